/* console.h over the STM32F4 USART1 at 0x40011000 (RM0090 section 30.6), polled; QEMU ignores the baud. */
#include <stdint.h>

#include "console.h"

#define REG(addr) (*(volatile uint32_t *)(addr))
#define RCC_APB2ENR REG(0x40023844u)
#define USART1_SR REG(0x40011000u)
#define USART1_DR REG(0x40011004u)
#define USART1_BRR REG(0x40011008u)
#define USART1_CR1 REG(0x4001100Cu)
#define SR_RXNE (1u << 5)
#define SR_TXE (1u << 7)

void mbmicro_console_init(void)
{
    RCC_APB2ENR |= 1u << 4;                           /* USART1EN */
    USART1_BRR = 139;                                 /* 115200 baud from the 16 MHz HSI */
    USART1_CR1 = (1u << 13) | (1u << 3) | (1u << 2);  /* UE, TE, RE */
}

void mbmicro_console_write(const char *s, unsigned n)
{
    while (n--) {
        while (!(USART1_SR & SR_TXE))
            ;
        USART1_DR = (uint8_t)*s++;
    }
}

int mbmicro_console_getc(void)
{
    while (!(USART1_SR & SR_RXNE))
        ;
    return (int)(USART1_DR & 0xFFu);
}
