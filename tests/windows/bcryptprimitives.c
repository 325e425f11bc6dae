//go:build ignore

/*
 * A stand-in for Windows' bcryptprimitives.dll, for the test harness
 * only: Wine 8.0 lacks ProcessPrng, which the Go runtime of libgop11.dll
 * needs at start. It fills the buffer from RtlGenRandom (advapi32's
 * SystemFunction036). Real Windows has the function.
 */
#include <windows.h>
#include <ntsecapi.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T n)
{
	while (n > 0) {
		ULONG chunk = n > 0x10000000 ? 0x10000000 : (ULONG)n;
		if (!RtlGenRandom(data, chunk))
			return FALSE;
		data += chunk;
		n -= chunk;
	}
	return TRUE;
}
