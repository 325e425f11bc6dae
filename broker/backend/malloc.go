package backend

/*
#include <malloc.h>
*/
import "C"

// Large call buffers (miekg/pkcs11 copies each input into C memory) come
// from mmap and go back to the system when freed. glibc raises its mmap
// threshold to the size of each large block freed, after which such
// buffers come from its heap and stay: a worker whose 40 lanes had each
// digested 15 MiB held 399 MiB idle, 24 MiB with the threshold fixed.
// 4 MiB keeps the common sizes (a 1 MiB digest) on the heap.
func init() { C.mallopt(C.M_MMAP_THRESHOLD, 4<<20) }
