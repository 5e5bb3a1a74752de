package trainyard

import (
	"slices"
	"strings"
)

// VMSize describes one machine size of a location's catalog.
type VMSize struct {
	Name               string  // canonical spelling, e.g. "STANDARD_D2_V2"
	Family             string  // quota family, e.g. "standardDv2Family"
	VCPUs              int     // cores
	MemoryGiB          float64 // memory
	GPUs               int     // accelerators
	GPUModel           string  // e.g. "K80", empty without GPUs
	LowPriorityCapable bool
	// PricePerHour is the dedicated list price of one node in USD per hour: an estimate, see
	// BuiltinSizes. Zero means unknown.
	PricePerHour float64
}

// LowPriorityDiscount is how much cheaper a low-priority node is than a dedicated one: an
// estimate of Azure's discount for low-priority (spot) VMs, which is "up to 80%" and varies
// with size, region and time.
const LowPriorityDiscount = 0.8

// HourlyPrice is what one node of size s costs per hour on tier t, in USD.
func (s VMSize) HourlyPrice(t Tier) float64 {
	if t == LowPriority {
		return s.PricePerHour * (1 - LowPriorityDiscount)
	}
	return s.PricePerHour
}

// BuiltinSizes is the catalog every location starts with (SPEC §3.13).
//
// Prices are estimates, not quotes: Azure's public pay-as-you-go list prices for Linux VMs in
// East US as published around 2023, rounded (the NC, NCv2 and ND series were retired in
// August 2023 at about these prices). They serve `trainyard simulate` to compare settings,
// and real prices vary by region, currency, agreement and date.
var BuiltinSizes = []VMSize{
	{Name: "STANDARD_D2_V2", Family: "standardDv2Family", VCPUs: 2, MemoryGiB: 7, LowPriorityCapable: true, PricePerHour: 0.146},
	{Name: "STANDARD_D3_V2", Family: "standardDv2Family", VCPUs: 4, MemoryGiB: 14, LowPriorityCapable: true, PricePerHour: 0.293},
	{Name: "STANDARD_DS3_V2", Family: "standardDSv2Family", VCPUs: 4, MemoryGiB: 14, LowPriorityCapable: true, PricePerHour: 0.293},
	{Name: "STANDARD_F4S_V2", Family: "standardFSv2Family", VCPUs: 4, MemoryGiB: 8, LowPriorityCapable: true, PricePerHour: 0.169},
	{Name: "STANDARD_NC6", Family: "standardNCFamily", VCPUs: 6, MemoryGiB: 56, GPUs: 1, GPUModel: "K80", LowPriorityCapable: true, PricePerHour: 0.90},
	{Name: "STANDARD_NC12", Family: "standardNCFamily", VCPUs: 12, MemoryGiB: 112, GPUs: 2, GPUModel: "K80", LowPriorityCapable: true, PricePerHour: 1.80},
	{Name: "STANDARD_NC24", Family: "standardNCFamily", VCPUs: 24, MemoryGiB: 224, GPUs: 4, GPUModel: "K80", LowPriorityCapable: true, PricePerHour: 3.60},
	{Name: "STANDARD_NC4AS_T4_V3", Family: "standardNCASv3_T4Family", VCPUs: 4, MemoryGiB: 28, GPUs: 1, GPUModel: "T4", LowPriorityCapable: true, PricePerHour: 0.526},
	{Name: "STANDARD_NC24S_V3", Family: "standardNCSv3Family", VCPUs: 24, MemoryGiB: 448, GPUs: 4, GPUModel: "V100", LowPriorityCapable: true, PricePerHour: 12.24},
	{Name: "STANDARD_NC24RS_V3", Family: "standardNCSv3Family", VCPUs: 24, MemoryGiB: 448, GPUs: 4, GPUModel: "V100", LowPriorityCapable: true, PricePerHour: 13.46},
}

// DefaultSize is the size a cluster gets when none is given (SPEC §2.1).
const DefaultSize = "STANDARD_DS3_V2"

// LookupSize finds a size by name, ignoring case ("Standard_DS3_v2" is STANDARD_DS3_V2).
func LookupSize(catalog []VMSize, name string) (VMSize, bool) {
	i := slices.IndexFunc(catalog, func(s VMSize) bool { return strings.EqualFold(s.Name, name) })
	if i < 0 {
		return VMSize{}, false
	}
	return catalog[i], true
}

// SizeNames lists the names of a catalog, for error messages.
func SizeNames(catalog []VMSize) []string {
	names := make([]string, len(catalog))
	for i, s := range catalog {
		names[i] = s.Name
	}
	return names
}
