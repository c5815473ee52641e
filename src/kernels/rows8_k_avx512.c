/* The kernels of rows8_k_avx2.c for the AVX-512 table: the same source with
 * vpdpbusd for its integer products (KERNEL_VNNI, see avx2_inline.h). */
#define KERNEL_VNNI 1
#include "kernels/rows8_k_avx2.c"
