/*
 * The on-device request loop (protocol in console_serve.h).
 *
 * Why it parses as it reads: the input is written into the model's input
 * buffer two hex digits at a time, so the loop needs no line buffer as large
 * as the input (27 KiB for a 96x96 RGB model) on a board with little SRAM.
 * Only C99 and the firmware's own interfaces are used, no libc, no newlib:
 * console.h (the UART), console_text.h (numbers, the CRC-32 and the result lines, the
 * same as fw_main.c's), fw_cycles.h (the DWT counter) and mbmicro_fw_model.h (which
 * model: MBMICRO_FW_INPUT_SIZE, _OUTPUT_SIZE, _NUM_LAYERS, MBMICRO_FW_RUN).
 */
#include "console_serve.h"

#include "console.h"
#include "console_text.h"
#include "fw_cycles.h"
#include "mbmicro_fw_model.h"

#ifdef MBMICRO_PROFILE
#define MBMICRO_SERVE_PROFILE 1
/* The firmware's per-layer hooks (fw_main.c) add each layer's cycles here. */
extern uint32_t mbmicro_layer_cycles[MBMICRO_FW_NUM_LAYERS];
#else
#define MBMICRO_SERVE_PROFILE 0
#endif

/* Longest word of a request ("MBMICRO", "INFO", a length, a checksum). */
#define WORD_MAX 16

#ifdef MBMICRO_FW_IO_IN_ARENA
/* --io-in-arena: the request's input goes straight into the model's arena */
#define serve_input MBMICRO_FW_INPUT_BUFFER
#define serve_output MBMICRO_FW_OUTPUT_BUFFER
#else
static int8_t serve_input[MBMICRO_FW_INPUT_SIZE];
static int8_t serve_output[MBMICRO_FW_OUTPUT_SIZE];
#endif

static int next_char(void)
{
    int c;
    do
        c = mbmicro_console_getc();
    while (c < 0 || c == '\r');
    return c;
}

/*
 * Reads one word ending at ' ' or '\n' into word and its end character into *end;
 * returns its length, or -1 if it is longer than WORD_MAX (then *end is ' ': the
 * line goes on and is still to be skipped).
 */
static int read_word(char *word, int *end)
{
    int n = 0;
    int c = next_char();
    while (c != ' ' && c != '\n') {
        if (n == WORD_MAX) {
            *end = ' ';
            return -1;
        }
        word[n++] = (char)c;
        c = next_char();
    }
    word[n] = '\0';
    *end = c;
    return n;
}

static int same(const char *a, const char *b)
{
    while (*a != '\0' && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parses a whole word as a number in base 10 or 16; returns 0 on success. */
static int parse_number(const char *word, uint32_t base, uint32_t *value)
{
    uint32_t v = 0;
    int d;
    if (*word == '\0')
        return -1;
    for (; *word != '\0'; word++) {
        d = hex_value(*word);
        if (d < 0 || (uint32_t)d >= base || v > (0xFFFFFFFFu - (uint32_t)d) / base)
            return -1;
        v = v * base + (uint32_t)d;
    }
    *value = v;
    return 0;
}

static void skip_line(int last)
{
    while (last != '\n')
        last = next_char();
}

static void reply_error(const char *reason, int last)
{
    skip_line(last);
    mbmicro_console_puts("MBMICRO ERR ");
    mbmicro_console_puts(reason);
    mbmicro_console_puts("\n");
}

static void reply_info(void)
{
    mbmicro_console_puts("MBMICRO INFO in=");
    mbmicro_console_put_u32(MBMICRO_FW_INPUT_SIZE);
    mbmicro_console_puts(" out=");
    mbmicro_console_put_u32(MBMICRO_FW_OUTPUT_SIZE);
    mbmicro_console_puts(" layers=");
    mbmicro_console_put_u32(MBMICRO_FW_NUM_LAYERS);
    mbmicro_console_puts(MBMICRO_SERVE_PROFILE ? " profile=1\n" : " profile=0\n");
}

/* Reads 2 * MBMICRO_FW_INPUT_SIZE hex digits into serve_input; returns the character after them. */
static int read_input_bytes(int *bad)
{
    uint32_t i;
    int hi, lo, c = 0;
    *bad = 0;
    for (i = 0; i < MBMICRO_FW_INPUT_SIZE; i++) {
        c = next_char();
        if (c == '\n')
            break;
        hi = hex_value(c);
        c = next_char();
        if (c == '\n')
            break;
        lo = hex_value(c);
        if (hi < 0 || lo < 0)
            *bad = 1;
        serve_input[i] = (int8_t)(uint8_t)((hi << 4) | lo);
    }
    if (c == '\n') {
        *bad = 2;
        return c;
    }
    return next_char();
}

static void run_and_reply(void)
{
    uint32_t start, spent;
    int32_t rc;
#if MBMICRO_SERVE_PROFILE
    int32_t i;
    for (i = 0; i < MBMICRO_FW_NUM_LAYERS; i++)
        mbmicro_layer_cycles[i] = 0;
#endif
    start = mbmicro_cycles_now();
    rc = (int32_t)MBMICRO_FW_RUN(serve_input, serve_output);
    spent = mbmicro_cycles_now() - start;
#if MBMICRO_SERVE_PROFILE
    mbmicro_console_put_layers(mbmicro_layer_cycles, MBMICRO_FW_NUM_LAYERS, "\n");
#endif
    mbmicro_console_put_result("MBMICRO OUT ", rc, spent, serve_output, MBMICRO_FW_OUTPUT_SIZE, "\n");
}

/* After "MBMICRO IN ": "<length> <crc32> <hex>\n". */
static void serve_input_request(void)
{
    char word[WORD_MAX + 1];
    uint32_t length, crc;
    int end, bad;
    if (read_word(word, &end) < 0 || end != ' ' || parse_number(word, 10, &length) != 0) {
        reply_error("length: expected MBMICRO IN <length> <crc32> <hex>", end);
        return;
    }
    if (length != MBMICRO_FW_INPUT_SIZE) {
        reply_error("length: not this model's input size (see MBMICRO INFO)", end);
        return;
    }
    if (read_word(word, &end) < 0 || end != ' ' || parse_number(word, 16, &crc) != 0) {
        reply_error("crc32: expected 8 hex digits", end);
        return;
    }
    end = read_input_bytes(&bad);
    if (bad == 2) {
        reply_error("data: fewer hex digits than the length", end);
        return;
    }
    if (bad || end != '\n') {
        reply_error(bad ? "data: not hex digits" : "data: more hex digits than the length", end);
        return;
    }
    if (mbmicro_crc32(serve_input, MBMICRO_FW_INPUT_SIZE) != crc) {
        reply_error("crc32: the data does not match its checksum (bytes lost on the line?)", end);
        return;
    }
    run_and_reply();
}

static void serve_request(void)
{
    char word[WORD_MAX + 1];
    int end;
    int n = read_word(word, &end);
    if (n == 0 && end == '\n')
        return; /* an empty line: nothing asked */
    if (n < 0 || end != ' ' || !same(word, "MBMICRO")) {
        reply_error("request: expected a line starting with MBMICRO", end);
        return;
    }
    if (read_word(word, &end) < 0) {
        reply_error("request: expected MBMICRO INFO or MBMICRO IN", end);
    } else if (same(word, "INFO")) {
        skip_line(end);
        reply_info();
    } else if (same(word, "IN") && end == ' ') {
        serve_input_request();
    } else {
        reply_error("request: expected MBMICRO INFO or MBMICRO IN", end);
    }
}

void mbmicro_serve(void)
{
    mbmicro_cycles_init();
    for (;;)
        serve_request();
}
