package datagen

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// burnCPU spins until this thread has used d of CPU time. It counts the
// thread's own CPU time, not wall time, so the cost per record stays the same
// on a busy machine: what autoscaling tests need to load a worker predictably.
func burnCPU(d time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := threadCPU()
	x := uint64(1)
	for threadCPU()-start < d {
		for i := 0; i < 1000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	sink = x
}

// sink keeps the compiler from dropping the busy loop.
var sink uint64

func threadCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
