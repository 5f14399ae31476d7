/*
 * Console driver for the Arm CMSDK APB UART (console.h) of the MPS2/MPS3 FPGA boards,
 * configured by mbmicro_board.h. Registers (Arm DDI 0479, CMSDK APB UART): DATA 0x00,
 * STATE 0x04 (bit 0 TX buffer full, bit 1 RX buffer full), CTRL 0x08 (bit 0 TX enable,
 * bit 1 RX enable), BAUDDIV 0x10 (APB clock / baud, at least 16). No clock or pin setup:
 * the FPGA image wires the UART to the board's USB serial port.
 */
#include <stdint.h>

#include "console.h"
#include "mbmicro_board.h"

#define REG(off) (*(volatile uint32_t *)(uintptr_t)(MBMICRO_CONSOLE_BASE + (off)))
#define UART_DATA 0x00u
#define UART_STATE 0x04u
#define UART_CTRL 0x08u
#define UART_BAUDDIV 0x10u
#define STATE_TX_FULL (1u << 0)
#define STATE_RX_FULL (1u << 1)
#define CTRL_TX_EN (1u << 0)
#define CTRL_RX_EN (1u << 1)

void mbmicro_console_init(void)
{
    REG(UART_CTRL) = 0u;
    REG(UART_BAUDDIV) = (uint32_t)(MBMICRO_CONSOLE_CLOCK_HZ / MBMICRO_CONSOLE_BAUD);
    REG(UART_CTRL) = CTRL_TX_EN | CTRL_RX_EN;
}

void mbmicro_console_write(const char *s, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        while (REG(UART_STATE) & STATE_TX_FULL) {
        }
        REG(UART_DATA) = (uint8_t)s[i];
    }
}

int mbmicro_console_getc(void)
{
    while ((REG(UART_STATE) & STATE_RX_FULL) == 0u) {
    }
    return (int)(REG(UART_DATA) & 0xFFu);
}
