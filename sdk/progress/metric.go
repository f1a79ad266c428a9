package progress

import "strconv"

// Metric is a named number shown after the bar, as key=value.
type Metric struct {
	Key   string
	Value float64
}

// M returns the metric key=value.
func M(key string, value float64) Metric { return Metric{Key: key, Value: value} }

// String formats the metric with 4 significant digits, e.g. loss=0.4123.
func (m Metric) String() string {
	return m.Key + "=" + strconv.FormatFloat(m.Value, 'g', 4, 64)
}

// metrics keeps the latest value of each key in the order keys first
// appeared.
type metrics []Metric

// set updates or appends each metric.
func (ms *metrics) set(update []Metric) {
next:
	for _, u := range update {
		for i := range *ms {
			if (*ms)[i].Key == u.Key {
				(*ms)[i].Value = u.Value
				continue next
			}
		}
		*ms = append(*ms, u)
	}
}
