/* String formats as GBNF rules over string content (RFC 3339 date/time,
 * UUID, a simple safe subset of email addresses).  Every string these
 * rules allow is valid for the format; not every valid one is produced
 * (e.g. leap seconds, lower-case "t"/"z", quoted email local parts). */
#include <string.h>

#include "grammar/schema_internal.h"

/* Two-digit years divisible by 4 ("00".."96"): leap years are YY(these but
 * 00) and (these)00. */
static void leap_years(sch_buf *b) {
    sch_put(b, "fmt-y4 ::= ");
    for (int i = 0; i < 100; i += 4) sch_printf(b, "%s\"%02d\"", i ? " | " : "", i);
    sch_put(b, "\nfmt-leap ::= [0-9] [0-9] (");
    for (int i = 4; i < 100; i += 4) sch_printf(b, "%s\"%02d\"", i > 4 ? " | " : "", i);
    sch_put(b, ") | fmt-y4 \"00\"\n");
}

static void date_rules(sch_buf *b) {
    leap_years(b);
    sch_put(b,
            "fmt-date ::= [0-9]{4} \"-\" fmt-md | fmt-leap \"-02-29\"\n"
            "fmt-md ::= (\"01\" | \"03\" | \"05\" | \"07\" | \"08\" | \"10\" | \"12\") \"-\" fmt-d31"
            " | (\"04\" | \"06\" | \"09\" | \"11\") \"-\" fmt-d30 | \"02-\" fmt-d28\n"
            "fmt-d28 ::= \"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8]\n"
            "fmt-d30 ::= fmt-d28 | \"29\" | \"30\"\n"
            "fmt-d31 ::= fmt-d30 | \"31\"\n");
}

static void time_rules(sch_buf *b) {
    sch_put(b,
            "fmt-time ::= fmt-hh \":\" fmt-mm \":\" fmt-mm (\".\" [0-9]{1,9})? (\"Z\" | [+\\-] fmt-hh \":\" fmt-mm)\n"
            "fmt-hh ::= [01] [0-9] | \"2\" [0-3]\n"
            "fmt-mm ::= [0-5] [0-9]\n");
}

bool sch_format_rules(sch_buf *b, const char *f) {
    if (strcmp(f, "date") == 0) {
        date_rules(b);
    } else if (strcmp(f, "time") == 0) {
        time_rules(b);
    } else if (strcmp(f, "date-time") == 0) {
        sch_put(b, "fmt-date-time ::= fmt-date \"T\" fmt-time\n");
    } else if (strcmp(f, "uuid") == 0) {
        sch_put(b, "fmt-uuid ::= fmt-x{8} \"-\" fmt-x{4} \"-\" fmt-x{4} \"-\" fmt-x{4} \"-\" fmt-x{12}\n"
                   "fmt-x ::= [0-9a-fA-F]\n");
    } else if (strcmp(f, "email") == 0) {
        /* dot-atom local part, "@", DNS labels (no leading/trailing
         * hyphen), at least two labels; length capped */
        sch_put(b, "fmt-email ::= fmt-atom (\".\" fmt-atom){0,8} \"@\" fmt-label (\".\" fmt-label){1,8}\n"
                   "fmt-atom ::= [a-zA-Z0-9_%+\\-]{1,32}\n"
                   "fmt-label ::= [a-zA-Z0-9] ([a-zA-Z0-9\\-]{0,30} [a-zA-Z0-9])?\n");
    } else {
        return false;
    }
    return true;
}
