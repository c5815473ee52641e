/* The kernels of gemm_avx2.c for the AVX-512 table: the same source with
 * vpdpbusd for its integer products (KERNEL_VNNI, see avx2_inline.h). */
#define KERNEL_VNNI 1
#include "kernels/gemm_avx2.c"
