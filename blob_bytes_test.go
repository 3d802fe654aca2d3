package ethos_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/ethos-imaging/ethos"
)

// TestBlobBytes: a BlobBytes reads its bytes, hands over exactly the ones
// not read yet, and reports the sum it was given (nil when none).
func TestBlobBytes(t *testing.T) {
	data := []byte("0123456789")
	b := ethos.NewBlobBytes(data, nil)
	if b.PlainSHA256() != nil {
		t.Fatalf("sum %x, want nil", b.PlainSHA256())
	}
	head := make([]byte, 4)
	if _, err := io.ReadFull(b, head); err != nil {
		t.Fatal(err)
	}
	if got := b.Unread(); !bytes.Equal(got, data[4:]) {
		t.Fatalf("Unread after 4 bytes = %q, want %q", got, data[4:])
	}
	rest, err := io.ReadAll(b)
	if err != nil || !bytes.Equal(rest, data[4:]) {
		t.Fatalf("rest %q, %v", rest, err)
	}
	if len(b.Unread()) != 0 {
		t.Fatalf("Unread at the end = %q", b.Unread())
	}
	sum := bytes.Repeat([]byte{7}, 32)
	if got := ethos.NewBlobBytes(data, sum).PlainSHA256(); !bytes.Equal(got, sum) {
		t.Fatalf("sum %x", got)
	}
}
