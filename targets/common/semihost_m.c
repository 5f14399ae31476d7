/*
 * ARM semihosting requests for the M-profile targets (see semihost_m.h for why).
 * QEMU answers them when started with -semihosting-config enable=on,target=native.
 */
#include "semihost_m.h"

int32_t semihost_call(int32_t op, void *arg)
{
    register int32_t r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;
    /* "memory": the host reads and writes the block that r1 points to */
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void semihost_write0(const char *text)
{
    semihost_call(SEMIHOST_SYS_WRITE0, (void *)text);
}

void semihost_exit(int status)
{
    /* SYS_EXIT_EXTENDED takes a two-word block: reason, then the status code */
    uint32_t block[2] = {SEMIHOST_ADP_STOPPED_APPLICATION_EXIT, (uint32_t)status};
    for (;;) {
        semihost_call(SEMIHOST_SYS_EXIT_EXTENDED, block);
    }
}

int32_t semihost_cmdline(char *buf, int32_t size)
{
    /* in: buffer and its size; out: the host rewrites the size with the length used */
    uint32_t block[2] = {(uint32_t)(uintptr_t)buf, (uint32_t)size};
    if (size < 1 || semihost_call(SEMIHOST_SYS_GET_CMDLINE, block) != 0) {
        return -1;
    }
    int32_t len = (int32_t)block[1];
    if (len < 0 || len >= size) {
        len = size - 1;
    }
    buf[len] = '\0';
    return len;
}
