package sqlstore

import "testing"

func TestPlaceholders(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"NoneIsEmpty", placeholders(0), ""},
		{"OneParameter", placeholders(1), "?"},
		{"InList", placeholders(3), "?, ?, ?"},
		{"NoRows", valueRows(0, 4), ""},
		{"OneRow", valueRows(1, 3), "(?, ?, ?)"},
		{"ManyRows", valueRows(3, 2), "(?, ?), (?, ?), (?, ?)"},
		{"Conditions", repeatJoin("(kind = ? AND ref = ?)", " OR ", 2), "(kind = ? AND ref = ?) OR (kind = ? AND ref = ?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}
