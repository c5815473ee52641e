/* The files under data/ (machine catalog, benchmark prompt sets), compiled
 * into the binary by tools/embed_data.sh so that lair is one file. */
#ifndef LAIR_TOOLS_DATA_FILES_H
#define LAIR_TOOLS_DATA_FILES_H

#include <stddef.h>

/* The contents of "data/NAME..." (NUL-terminated; *len without the NUL), or
 * NULL when there is no such file. */
const char *data_file(const char *name, size_t *len);
/* The i-th file's name ("data/..."); NULL after the last. */
const char *data_file_name(size_t i);

#endif
