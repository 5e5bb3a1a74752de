package manifest_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trainyard/trainyard/internal/manifest"
)

// corpusDir holds real Azure ML job files written by others: shared/corpus beside the
// repository, or $TRAINYARD_CORPUS.
func corpusDir() string {
	if dir := os.Getenv("TRAINYARD_CORPUS"); dir != "" {
		return filepath.Join(dir, "azureml", "jobs")
	}
	return filepath.Join("..", "..", "..", "shared", "corpus", "azureml", "jobs")
}

func TestDecodeCorpus(t *testing.T) {
	dir := corpusDir()
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("corpus missing in CI (set TRAINYARD_CORPUS): %v", err)
		}
		t.Skipf("no corpus: %v", err)
	}
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".yml") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no *.yml files under %s", dir)
	}
	for _, path := range files {
		t.Run(strings.TrimPrefix(path, dir+"/"), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := manifest.Decode(data, &got); err != nil {
				t.Errorf("Decode() error = %v", err)
			}
			if len(got) == 0 {
				t.Errorf("Decode() = empty map")
			}
		})
	}
}

// FuzzDecode checks that no input makes Decode or Set panic.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{fullJob, laughs(), "a: &x {b: *x}\n", "- a\n", "", "a: [\n", "<<: 1\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = manifest.Decode(data, new(map[string]any))
		_ = manifest.Decode(data, new(job))
		_, _ = manifest.Set(data, []string{"resources.instance_count=2", "inputs.x[0]=1"})
	})
}
