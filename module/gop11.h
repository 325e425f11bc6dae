/* Declarations shared by the module's C and Go files. Declarations only:
 * it is included in cgo preambles of files with //export. */
#ifndef GOP11_MODULE_H
#define GOP11_MODULE_H

#include <stdlib.h>
#include <string.h>
#include "pkcs11.h"

/* Set in a forked child (pthread_atfork). The Go runtime does not survive
 * fork, so no exported function may enter Go there. */
extern volatile int gop11_forked;

#define GOP11_ENTER(rv_in_child) do { if (gop11_forked) return (rv_in_child); } while (0)

extern CK_FUNCTION_LIST gop11_function_list;
extern CK_FUNCTION_LIST_3_0 gop11_function_list_3_0;

#endif
