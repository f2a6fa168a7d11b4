package demo

import (
	"math"
	"math/rand/v2"
)

// Point is one geotagged place of the demo dataset.
type Point struct {
	Lat, Lon float64
	Category string
	Value    float64
}

// Categories of the demo dataset's places.
var Categories = []string{"cafe", "park", "museum", "school", "clinic"}

// cities are the centres the demo's places cluster around (approximate
// coordinates of real cities).
var cities = []struct {
	lat, lon, spread float64
	weight           int
}{
	{48.857, 2.352, 0.15, 9},   // Paris
	{51.507, -0.128, 0.18, 10}, // London
	{52.520, 13.405, 0.14, 7},  // Berlin
	{40.417, -3.704, 0.12, 6},  // Madrid
	{41.903, 12.496, 0.10, 5},  // Rome
	{45.764, 4.836, 0.06, 3},   // Lyon
	{50.850, 4.352, 0.06, 3},   // Brussels
	{52.370, 4.895, 0.07, 4},   // Amsterdam
	{48.208, 16.373, 0.09, 4},  // Vienna
	{50.075, 14.438, 0.08, 3},  // Prague
	{59.329, 18.069, 0.10, 3},  // Stockholm
	{55.676, 12.568, 0.07, 3},  // Copenhagen
	{38.722, -9.139, 0.07, 3},  // Lisbon
	{53.349, -6.260, 0.06, 2},  // Dublin
	{47.498, 19.040, 0.08, 3},  // Budapest
	{52.230, 21.012, 0.10, 4},  // Warsaw
	{43.296, 5.370, 0.06, 2},   // Marseille
	{45.464, 9.190, 0.09, 4},   // Milan
	{41.385, 2.173, 0.08, 4},   // Barcelona
	{60.170, 24.938, 0.06, 2},  // Helsinki
}

// DatasetSize is how many places the demo dataset holds.
const DatasetSize = 40_000

// Dataset returns the demo's places: the same DatasetSize points on every
// run, generated from a fixed seed.
func Dataset() []Point {
	rng := rand.New(rand.NewPCG(2026, 11))
	total := 0
	for _, c := range cities {
		total += c.weight
	}
	pts := make([]Point, DatasetSize)
	for i := range pts {
		pick := rng.IntN(total)
		c := cities[0]
		for _, cc := range cities {
			if pick < cc.weight {
				c = cc
				break
			}
			pick -= cc.weight
		}
		cat := rng.IntN(len(Categories))
		pts[i] = Point{
			Lat:      round3(c.lat + rng.NormFloat64()*c.spread),
			Lon:      round3(c.lon + rng.NormFloat64()*c.spread*1.5),
			Category: Categories[cat],
			Value:    math.Round(math.Exp(2.5+0.6*rng.NormFloat64()+0.2*float64(cat))*10) / 10,
		}
	}
	return pts
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
