package wire_test

import (
	"testing"

	"github.com/gop11/gop11/wire"
)

func TestOffersV3(t *testing.T) {
	v := func(major, minor uint8) wire.Version { return wire.Version{Major: major, Minor: minor} }
	tests := []struct {
		name string
		list []wire.Interface
		want bool
	}{
		{"none", nil, false},
		{"2.40 only", []wire.Interface{{Name: "PKCS 11", Version: v(2, 40)}}, false},
		{"3.0 and 2.40", []wire.Interface{{Name: "PKCS 11", Version: v(3, 0)}, {Name: "PKCS 11", Version: v(2, 40)}}, true},
		{"3.1", []wire.Interface{{Name: "PKCS 11", Version: v(3, 1)}}, true},
		{"a vendor's interface at 3.0", []wire.Interface{{Name: "Vendor NSS", Version: v(3, 0)}}, false},
	}
	for _, tt := range tests {
		if got := wire.OffersV3(tt.list); got != tt.want {
			t.Errorf("%s: OffersV3 = %v, want %v", tt.name, got, tt.want)
		}
	}
}
