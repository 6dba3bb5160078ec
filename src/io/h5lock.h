// HDF5 across threads. A cluster's HDF5 module is often built without thread safety, yet the
// shard reader's prefetch thread reads while the main thread may call HDF5 too (a checkpoint
// mid-epoch, a second reader). When H5is_library_threadsafe() says no, or DNA_H5_SERIALIZE=1
// forces it, every HDF5 call runs under one lock. Owns that lock and the choice; callers mark
// where they hand HDF5 over.
//
// The main thread holds the lock by default (as Python's GIL): from the first shard reader on,
// it lets helper threads in only where it waits for them (the reader's next/stop/free) or
// computes without HDF5 (h5_main_yield .. h5_main_resume around a training or rating step). So
// a main-thread HDF5 call anywhere in the program is covered without marking it; a missing
// yield costs overlap, never correctness. Helper threads take the lock around their own HDF5
// calls. With a thread-safe library every call here is a no-op.
#pragma once

int h5_serialized(void);  // 1 when HDF5 calls are serialised (decided once, on first use)
// "HDF5 1.10.8, thread-safe: concurrent calls" or "... serialised through one lock (...)"
void h5_thread_mode(char *buf, int n);

void h5_main_hold(void);  // main thread: take the lock unless already held (idempotent)
int h5_main_yield(void);  // main thread: let helpers in; pass the result to h5_main_resume
void h5_main_resume(int token);
void h5_helper_enter(void);  // a helper thread, around its HDF5 calls
void h5_helper_leave(void);
void h5_helper_leave_cb(void *unused);  // h5_helper_leave for pthread_cleanup_push
