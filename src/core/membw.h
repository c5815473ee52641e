/* Measures this machine's memory read bandwidth, the limit of decode speed. */
#ifndef LAIR_CORE_MEMBW_H
#define LAIR_CORE_MEMBW_H

#include <stdint.h>

/* Best of `rounds` passes reading `bytes` (rounded down to 64) with n_threads
 * threads; bytes per second, or 0 if the buffer could not be allocated. */
double lair_measure_read_bandwidth(uint64_t bytes, int n_threads, int rounds);

#endif
