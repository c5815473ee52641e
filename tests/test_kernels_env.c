/* LAIR_ISA forces the kernel choice: set before the first lair_kernels_get
 * call (the choice is made once per process, so this is its own binary). */
#define _POSIX_C_SOURCE 200112L
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels/kernels.h"

TEST(lair_isa_scalar_forces_scalar) {
    REQUIRE(setenv("LAIR_ISA", "scalar", 1) == 0);
    const lair_kernels *k = lair_kernels_get();
    REQUIRE(k);
    CHECK(k->isa == LAIR_ISA_SCALAR);
    CHECK(strcmp(k->name, "scalar") == 0);
    CHECK(k == lair_kernels_for(LAIR_ISA_SCALAR));
    /* later changes of the variable do not change the choice */
    REQUIRE(setenv("LAIR_ISA", "avx2", 1) == 0);
    CHECK(lair_kernels_get() == k);
}

int main(void) {
    RUN(lair_isa_scalar_forces_scalar);
    return check_done();
}
