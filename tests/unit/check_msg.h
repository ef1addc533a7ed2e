/* check_msg.h - the runtime and core unit tests' CHECK(cond, fmt, ...):
 * counts checks and failures, prints "FAIL file:line: cond: message" for the
 * first 20 failures (a broken loop over thousands of cases stays readable)
 * and goes on.  Header-only; include once per test program, which reports
 * `failures` (and `checks`) at the end.  The frontend tests' message-less
 * CHECK is unit_check.h.
 */
#ifndef DTC_CHECK_MSG_H
#define DTC_CHECK_MSG_H

#include <stdio.h>

static int failures, checks;

#define CHECK(c, ...)                                                   \
    do {                                                                \
        checks++;                                                       \
        if (!(c)) {                                                     \
            if (++failures <= 20) {                                     \
                printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #c);     \
                printf(__VA_ARGS__);                                    \
                printf("\n");                                           \
            }                                                           \
        }                                                               \
    } while (0)

#endif
