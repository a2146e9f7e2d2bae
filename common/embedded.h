/*
 * embedded: text files compiled into the binary by cmake/embed.cmake
 * (embed_text_table), for instance the SQL migrations under schemas/sql/.
 */
#ifndef MEMORYD_EMBEDDED_H
#define MEMORYD_EMBEDDED_H

#include <stddef.h>

struct embedded_text {
	const char *name; /* file name without its extension */
	const char *text;
};

#endif
