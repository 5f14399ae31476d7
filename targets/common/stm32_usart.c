/*
 * Console driver for the STM32 USART/LPUART (console.h), configured by mbmicro_board.h.
 *
 * Three register layouts (MBMICRO_USART_LAYOUT):
 *   MBMICRO_USART_F4      STM32F2/F4 USART: SR 0x00, DR 0x04, BRR 0x08, CR1 0x0C (UE bit 13)
 *                         (RM0090 section 30.6, RM0402 section 26.6)
 *   MBMICRO_USART_V2      STM32F7/H7/L4 USART: CR1 0x00 (UE bit 0), BRR 0x0C, ISR 0x1C,
 *                         RDR 0x24, TDR 0x28 (RM0385 section 31.8, RM0433 section 48.7)
 *   MBMICRO_USART_LPUART  the V2 registers with BRR = 256 * clock / baud (RM0432 section 52.7)
 * TXE is bit 7 and RXNE bit 5 of the status register in all three; TE bit 3, RE bit 2 of CR1.
 *
 * Before the UART: MBMICRO_CONSOLE_ENABLE sets bits in RCC/PWR registers (peripheral
 * clocks, on the L4R5 the VDDIO2 supply of port G), MBMICRO_CONSOLE_PINS puts TX and RX
 * in their alternate function (GPIO MODER 0x00 = 0b10, AFRL 0x20 / AFRH 0x24). The
 * divisor is computed from the reset clock at compile time: no clock code is needed.
 */
#include <stdint.h>

#include "console.h"
#include "mbmicro_board.h"

#define MBMICRO_USART_F4 1
#define MBMICRO_USART_V2 2
#define MBMICRO_USART_LPUART 3

#define REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

#if MBMICRO_USART_LAYOUT == MBMICRO_USART_F4
#define USART_STATUS 0x00u
#define USART_TX 0x04u
#define USART_RX 0x04u
#define USART_BRR 0x08u
#define USART_CR1 0x0Cu
#define USART_UE (1u << 13)
#elif MBMICRO_USART_LAYOUT == MBMICRO_USART_V2 || MBMICRO_USART_LAYOUT == MBMICRO_USART_LPUART
#define USART_CR1 0x00u
#define USART_BRR 0x0Cu
#define USART_STATUS 0x1Cu
#define USART_RX 0x24u
#define USART_TX 0x28u
#define USART_UE (1u << 0)
#else
#error "MBMICRO_USART_LAYOUT must be MBMICRO_USART_F4, MBMICRO_USART_V2 or MBMICRO_USART_LPUART"
#endif
#define USART_TE (1u << 3)
#define USART_RE (1u << 2)
#define USART_TXE (1u << 7)
#define USART_RXNE (1u << 5)

#if MBMICRO_USART_LAYOUT == MBMICRO_USART_LPUART
#define USART_DIVISOR ((uint32_t)((256ull * MBMICRO_CONSOLE_CLOCK_HZ + MBMICRO_CONSOLE_BAUD / 2u) / MBMICRO_CONSOLE_BAUD))
#else
#define USART_DIVISOR ((uint32_t)((MBMICRO_CONSOLE_CLOCK_HZ + MBMICRO_CONSOLE_BAUD / 2u) / MBMICRO_CONSOLE_BAUD))
#endif

struct enable_bits {
    uint32_t reg;
    uint32_t bits;
};

struct uart_pin {
    uint32_t gpio;
    uint32_t pin;
    uint32_t af;
};

static const struct enable_bits enables[] = {MBMICRO_CONSOLE_ENABLE};
static const struct uart_pin pins[] = {MBMICRO_CONSOLE_PINS};

static void set_alternate(const struct uart_pin *p)
{
    uint32_t afr = p->gpio + 0x20u + (p->pin / 8u) * 4u;
    uint32_t shift = (p->pin % 8u) * 4u;
    REG(afr) = (REG(afr) & ~(0xFu << shift)) | (p->af << shift);
    REG(p->gpio) = (REG(p->gpio) & ~(3u << (2u * p->pin))) | (2u << (2u * p->pin));
}

void mbmicro_console_init(void)
{
    for (unsigned i = 0; i < sizeof enables / sizeof enables[0]; i++) {
        REG(enables[i].reg) |= enables[i].bits;
        (void)REG(enables[i].reg); /* read back: the clock is running before the peripheral is used */
    }
    for (unsigned i = 0; i < sizeof pins / sizeof pins[0]; i++)
        set_alternate(&pins[i]);
    REG(MBMICRO_CONSOLE_BASE + USART_CR1) = 0u;
    REG(MBMICRO_CONSOLE_BASE + USART_BRR) = USART_DIVISOR;
    REG(MBMICRO_CONSOLE_BASE + USART_CR1) = USART_TE | USART_RE;
    REG(MBMICRO_CONSOLE_BASE + USART_CR1) = USART_TE | USART_RE | USART_UE;
}

void mbmicro_console_write(const char *s, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        while ((REG(MBMICRO_CONSOLE_BASE + USART_STATUS) & USART_TXE) == 0u) {
        }
        REG(MBMICRO_CONSOLE_BASE + USART_TX) = (uint8_t)s[i];
    }
}

int mbmicro_console_getc(void)
{
    while ((REG(MBMICRO_CONSOLE_BASE + USART_STATUS) & USART_RXNE) == 0u) {
    }
    return (int)(REG(MBMICRO_CONSOLE_BASE + USART_RX) & 0xFFu);
}
