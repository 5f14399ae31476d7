/*
 * C start-up and the runtime glue newlib needs on the M-profile targets.
 *
 * startup_m.S enables the FPU/MVE, copies .data and zeroes .bss, then calls
 * mbmicro_crt_start() here: semihosting stdio is opened, argv is split out of the
 * semihosting command line, and main's return value leaves through exit() so stdio
 * buffers are flushed and QEMU's exit status equals main's.
 *
 * Linked with --specs=rdimon.specs -nostartfiles: newlib's rdimon provides the file
 * system calls; we provide what the missing crt0 would have (_init/_fini, argv), a
 * status-preserving _exit, a heap bounded by the linker script, and fault reporting.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fault_text.h"
#include "semihost_m.h"

#define MAX_ARGS 16
#define CMDLINE_BYTES 512
#define FAULT_EXIT_STATUS 139 /* 128 + SIGSEGV, as a shell would show a crash */

extern int main(int argc, char **argv);
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);
void mbmicro_crt_start(void) __attribute__((noreturn, used));
void mbmicro_crt_fault(const uint32_t *frame, uint32_t exception) __attribute__((noreturn, used));
void _init(void);
void _fini(void);
void _exit(int status);
void *_sbrk(ptrdiff_t increment);

/* Heap window reserved by the linker script (.heap section). */
extern char __heap_start[];
extern char __heap_end[];

static char cmdline[CMDLINE_BYTES];
static char *argv_table[MAX_ARGS + 1];

/* Constructors/destructors come from __libc_init_array; there is no crti/crtn here. */
void _init(void) {}
void _fini(void) {}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Split the command line at blanks (QEMU joins its arg= values with one space). */
static int split_args(char *line, char **argv, int max_args)
{
    int argc = 0;
    char *p = line;
    while (*p != '\0' && argc < max_args) {
        while (is_space(*p)) {
            *p++ = '\0';
        }
        if (*p == '\0') {
            break;
        }
        argv[argc++] = p;
        while (*p != '\0' && !is_space(*p)) {
            p++;
        }
    }
    argv[argc] = NULL;
    return argc;
}

void mbmicro_crt_start(void)
{
    initialise_monitor_handles();
    __libc_init_array();
    int argc = 0;
    if (semihost_cmdline(cmdline, (int32_t)sizeof cmdline) > 0) {
        argc = split_args(cmdline, argv_table, MAX_ARGS);
    }
    exit(main(argc, argv_table));
}

/* exit() ends here after flushing stdio: hand main's status to the simulator. */
void _exit(int status)
{
    semihost_exit(status);
}

/* Bounded heap: malloc fails cleanly (ENOMEM) instead of growing into the stack. */
void *_sbrk(ptrdiff_t increment)
{
    static char *brk = __heap_start;
    if (increment < 0 ? (__heap_start - brk) > increment : (__heap_end - brk) < increment) {
        errno = ENOMEM;
        return (void *)-1;
    }
    char *old = brk;
    brk += increment;
    return old;
}

/*
 * Any exception other than reset lands here (nothing enables interrupts). Print the
 * exception number and the stacked PC/LR without stdio (its state may be broken), then
 * exit with FAULT_EXIT_STATUS so a test or script sees the failure instead of a hang.
 */
void mbmicro_crt_fault(const uint32_t *frame, uint32_t exception)
{
    char msg[] = MBMICRO_FAULT_TEXT "\n";
    mbmicro_fault_fill(msg, frame, exception);
    semihost_write0(msg);
    semihost_exit(FAULT_EXIT_STATUS);
}
