// Package store persists trainyard's records in SQLite through database/sql, with embedded
// migrations. Every write commits durably (WAL, synchronous=FULL) before it returns, so a
// response sent after a write survives a kill -9 of the server. Concurrent writes share a
// commit (commit.go); reads run on a pool of their own, through prepared statements (stmt.go).
//
// It owns the schema and the queries; it must not import the API, the HTTP server or any
// provider.
package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/secret"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is the store. It is safe for concurrent use.
type DB struct {
	db  *sql.DB     // the write connection, used by commitLoop alone once the store is open
	rd  *sql.DB     // a pool of read-only connections, which WAL lets read beside the writer
	box *secret.Box // seals secrets at rest; its key lives beside the database
	// Now returns the current time; tests may replace it.
	Now func() time.Time

	stmts     stmtCache     // prepared reads on rd
	wstmts    stmtCache     // prepared writes on db
	writes    chan write    // to commitLoop
	closing   chan struct{} // closed by Close
	committed chan struct{} // closed when commitLoop has returned
}

// readers is the size of the read pool: reads run beside a commit, on every core.
const readers = 4

// Open opens (creating if needed) the SQLite database at path and applies pending migrations.
// Secrets are sealed with the key in secret.key beside it, created on first open.
func Open(ctx context.Context, path string) (*DB, error) {
	box, err := secret.OpenKeyFile(filepath.Join(filepath.Dir(path), "secret.key"))
	if err != nil {
		return nil, err
	}
	// SQLite gives the -wal and -shm files the mode of the database: 0600, the server's alone.
	if f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o600); err == nil {
		f.Close()
	}
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
		"&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)"
	db, err := sql.Open("sqlite", dsn+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// SQLite has one writer; a single connection serialises writers without busy errors.
	db.SetMaxOpenConns(1)
	rd, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	rd.SetMaxOpenConns(readers)
	rd.SetMaxIdleConns(readers)
	s := &DB{db: db, rd: rd, box: box, Now: time.Now,
		writes: make(chan write), closing: make(chan struct{}), committed: make(chan struct{})}
	go s.commitLoop()
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	return s, nil
}

// Close waits for the commit under way, refuses later writes and closes the database.
func (s *DB) Close() error {
	select {
	case <-s.closing:
	default:
		close(s.closing)
	}
	<-s.committed
	s.stmts.close()
	s.wstmts.close()
	s.rd.Close()
	return s.db.Close()
}

func (s *DB) migrate(ctx context.Context) error {
	if _, err := s.exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY)`); err != nil {
		return err
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		err := s.update(ctx, func(tx *Tx) error {
			var n int
			if err := tx.QueryRow(`SELECT count(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil || n > 0 {
				return err
			}
			body, err := migrations.ReadFile(name)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(string(body)); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			_, err = tx.Exec(`INSERT INTO schema_migrations (name) VALUES (?)`, name)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *DB) now() int64 { return ms(s.Now()) }

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// isUnique reports whether err is a unique-constraint violation, by the driver's code.
func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// NewToken returns a random bearer token with a readable prefix, e.g. "tyn_…" for a node.
func NewToken(prefix string) string {
	b := make([]byte, 24)
	rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// HashToken is how tokens are stored and looked up.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

var errNotFound = errors.New("not found")

func notFound(format string, args ...any) error {
	return &trainyard.Error{Code: trainyard.NotFound, Message: fmt.Sprintf(format, args...), Err: errNotFound}
}
