package record

import (
	"testing"

	"github.com/sluicehq/sluice/broker/codec"
)

func BenchmarkValidate(b *testing.B) {
	for _, vs := range []int{100, 1024} {
		batch := kbatch(b, codec.None, (16<<10)/(vs+20), vs, -1, -1)
		b.Run(map[int]string{100: "value=100B", 1024: "value=1KiB"}[vs], func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := Validate(batch, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
