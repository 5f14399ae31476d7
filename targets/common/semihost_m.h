/*
 * The few ARM semihosting calls the M-profile runtime needs beyond newlib's rdimon.
 *
 * Why our own: rdimon's exit uses SYS_EXIT, which on 32-bit ARM only reports success or
 * failure; SYS_EXIT_EXTENDED carries main's full status to QEMU's exit code. The command
 * line (argv) is fetched here too because we start without rdimon's crt0.
 */
#ifndef MBMICRO_SEMIHOST_M_H
#define MBMICRO_SEMIHOST_M_H

#include <stdint.h>

/* Operation numbers from the Arm semihosting specification. */
#define SEMIHOST_SYS_WRITE0        0x04
#define SEMIHOST_SYS_GET_CMDLINE   0x15
#define SEMIHOST_SYS_EXIT_EXTENDED 0x20
#define SEMIHOST_ADP_STOPPED_APPLICATION_EXIT 0x20026

/* Issue one semihosting request (BKPT 0xAB on M-profile); returns the host's r0. */
int32_t semihost_call(int32_t op, void *arg);

/* Print a NUL-terminated string on the host's stderr/console (no stdio needed). */
void semihost_write0(const char *text);

/* Stop the simulator with the given exit status; does not return. */
void semihost_exit(int status) __attribute__((noreturn));

/* Copy the command line into buf (NUL-terminated); returns its length or -1. */
int32_t semihost_cmdline(char *buf, int32_t size);

#endif /* MBMICRO_SEMIHOST_M_H */
