/*
 * Instruction classes from disassembly text (see insn_class.h for why).
 *
 * The text is Capstone 4's, as QEMU 7.2 prints it: lower case, mnemonic first, Thumb-2
 * width suffixes (".w", ".n"), AArch64 conditions as "b.eq", register names such as
 * "sb", "ip", "fp" for r9, r12, r11. Rules are by mnemonic, then by register kind (q/v
 * registers are vector, s/d registers scalar FP on M-profile).
 *
 * Helium: Capstone 4 predates it and prints most MVE instructions as ".byte" or as
 * LDC/STC/MCR/MRC/CDP of coprocessor 14 or 15; those are classified from their encoding
 * (MVE occupies exactly that coprocessor space, unused by anything else on Cortex-M, and
 * the low-overhead loop instructions share the BL encoding's first halfword range).
 */
#include "insn_class.h"

#include <ctype.h>
#include <string.h>

const char *const insn_class_names[INSN_CLASSES] = {
    "alu", "mul", "div", "dsp", "load", "store", "branch", "fp", "vector", "vector_mem", "other",
};

#define WORD 32

static int in_list(const char *word, const char *const *list)
{
    for (; *list != NULL; list++) {
        if (strcmp(word, *list) == 0) {
            return 1;
        }
    }
    return 0;
}

static int starts(const char *word, const char *prefix)
{
    return strncmp(word, prefix, strlen(prefix)) == 0;
}

/* mnemonic (lower case, up to the first blank) -> base (before the first '.') + operands. */
static const char *split(const char *disas, char *base, char *mnemonic)
{
    size_t i = 0;
    while (disas[i] != '\0' && !isspace((unsigned char)disas[i]) && i + 1 < WORD) {
        mnemonic[i] = (char)tolower((unsigned char)disas[i]);
        i++;
    }
    mnemonic[i] = '\0';
    while (disas[i] != '\0' && !isspace((unsigned char)disas[i])) {
        i++; /* an over-long mnemonic is cut, its operands still found */
    }
    strcpy(base, mnemonic);
    char *dot = strchr(base + 1, '.'); /* ".byte" keeps its leading dot */
    if (dot != NULL) {
        *dot = '\0';
    }
    return disas + i;
}

/* Does the operand text name a register <letter><digits> (e.g. q3, s0) as a whole word? */
static int has_register(const char *ops, const char *letters)
{
    for (const char *p = ops; *p != '\0'; p++) {
        int boundary = p == ops || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
        if (!boundary || strchr(letters, *p) == NULL || !isdigit((unsigned char)p[1])) {
            continue;
        }
        const char *q = p + 1;
        while (isdigit((unsigned char)*q)) {
            q++;
        }
        if (!(isalnum((unsigned char)*q) || *q == '_')) {
            return 1;
        }
    }
    return 0;
}

/* AArch64 SIMD register with an arrangement or lane: "v3.16b", "v0.s[1]". */
static int has_vector_lane(const char *ops)
{
    for (const char *p = ops; *p != '\0'; p++) {
        int boundary = p == ops || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
        if (boundary && *p == 'v' && isdigit((unsigned char)p[1])) {
            const char *q = p + 1;
            while (isdigit((unsigned char)*q)) {
                q++;
            }
            if (*q == '.') {
                return 1;
            }
        }
    }
    return 0;
}

static const char *const THUMB_BRANCH[] = {
    "b", "bl", "blx", "bx", "bxj", "cbz", "cbnz", "tbb", "tbh", "beq", "bne", "bcs", "bhs", "bcc", "blo",
    "bmi", "bpl", "bvs", "bvc", "bhi", "bls", "bge", "blt", "bgt", "ble", "bal",
    "le", "letp", "wls", "dls", "wlstp", "dlstp", "lctp", NULL,
};
static const char *const MUL[] = {
    "mul", "mla", "mls", "smull", "umull", "smlal", "umlal", "umaal", "smulbb", "smulbt", "smultb", "smultt",
    "smlabb", "smlabt", "smlatb", "smlatt", "smulwb", "smulwt", "smlawb", "smlawt", "smlalbb", "smlalbt",
    "smlaltb", "smlaltt", "smmul", "smmulr", "smmla", "smmlar", "smmls", "smmlsr",
    /* AArch64 */
    "madd", "msub", "mneg", "smaddl", "umaddl", "smsubl", "umsubl", "smnegl", "umnegl", "smulh", "umulh", NULL,
};
static const char *const DIV[] = {"sdiv", "udiv", NULL};
static const char *const DSP[] = {
    "smlad", "smladx", "smlsd", "smlsdx", "smlald", "smlaldx", "smlsld", "smlsldx", "smuad", "smuadx", "smusd",
    "smusdx", "sxtb16", "sxtab16", "uxtb16", "uxtab16", "sadd16", "ssub16", "sadd8", "ssub8", "uadd16", "usub16",
    "uadd8", "usub8", "qadd16", "qsub16", "qadd8", "qsub8", "uqadd16", "uqsub16", "uqadd8", "uqsub8", "shadd16",
    "shsub16", "shadd8", "shsub8", "uhadd16", "uhsub16", "uhadd8", "uhsub8", "sasx", "ssax", "uasx", "usax",
    "qasx", "qsax", "shasx", "shsax", "uhasx", "uhsax", "uqasx", "uqsax", "pkhbt", "pkhtb", "sel", "usad8",
    "usada8", "ssat16", "usat16", NULL,
};
static const char *const OTHER[] = {
    "nop", "bkpt", "svc", "dmb", "dsb", "isb", "mrs", "msr", "cpsie", "cpsid", "wfi", "wfe", "sev", "sevl",
    "yield", "udf", "dbg", "csdb", "hint", "pld", "pldw", "pli", "vmrs", "vmsr", ".word", ".short",
    /* AArch64 */
    "hvc", "smc", "brk", "hlt", "clrex", "prfm", "prfum", "sys", "sysl", NULL,
};

/* MUL-class with the flag-setting "s" (MULS, SMULLS...) or a condition-free base name. */
static int is_mul(const char *base)
{
    if (in_list(base, MUL)) {
        return 1;
    }
    char trimmed[WORD];
    size_t n = strlen(base);
    if (n < 2 || base[n - 1] != 's') {
        return 0;
    }
    memcpy(trimmed, base, n - 1);
    trimmed[n - 1] = '\0';
    return in_list(trimmed, MUL);
}

/* Helium / coprocessor-space instructions Capstone 4 cannot name (see the file comment). */
static enum insn_class thumb_by_encoding(const char *base, const uint8_t *bytes, size_t size)
{
    if (bytes == NULL || size < 4) {
        return INSN_OTHER;
    }
    unsigned hw1 = bytes[0] | (unsigned)bytes[1] << 8;
    unsigned hw2 = bytes[2] | (unsigned)bytes[3] << 8;
    unsigned coproc = (hw2 >> 8) & 0xEu;
    if ((hw1 & 0xF800u) == 0xF000u && (hw2 & 0xD000u) == 0xC000u) {
        return hw2 == 0xE801u ? INSN_VECTOR : INSN_BRANCH; /* VCTP, else LE/LETP/WLS/DLS(TP) */
    }
    if ((hw1 & 0xEF00u) == 0xEF00u) {
        return INSN_VECTOR; /* MVE data processing in the Advanced SIMD space */
    }
    if ((hw1 & 0xEE00u) == 0xEC00u || starts(base, "ldc") || starts(base, "stc")) {
        return coproc == 0xEu ? INSN_VECTOR_MEM : coproc == 0xAu ? INSN_LOAD : INSN_OTHER;
    }
    if ((hw1 & 0xEE00u) == 0xEE00u) {
        return coproc == 0xEu ? INSN_VECTOR : coproc == 0xAu ? INSN_FP : INSN_OTHER;
    }
    return INSN_OTHER;
}

static int is_coprocessor(const char *base)
{
    static const char *const COPROC[] = {"ldc", "ldc2", "ldcl", "ldc2l", "stc", "stc2", "stcl", "stc2l", "cdp",
                                         "cdp2", "mcr", "mcr2", "mrc", "mrc2", "mcrr", "mcrr2", "mrrc", "mrrc2",
                                         ".byte", NULL};
    return in_list(base, COPROC);
}

static enum insn_class thumb_vfp_or_vector(const char *base, const char *ops)
{
    int vector = has_register(ops, "q");
    if (starts(base, "vldr") || starts(base, "vldm") || starts(base, "vld") || strcmp(base, "vpop") == 0) {
        return vector ? INSN_VECTOR_MEM : INSN_LOAD;
    }
    if (starts(base, "vstr") || starts(base, "vstm") || starts(base, "vst") || strcmp(base, "vpush") == 0) {
        return vector ? INSN_VECTOR_MEM : INSN_STORE;
    }
    return vector ? INSN_VECTOR : INSN_FP;
}

static enum insn_class classify_thumb(const char *base, const char *ops, const uint8_t *bytes, size_t size)
{
    if (is_coprocessor(base)) {
        return thumb_by_encoding(base, bytes, size);
    }
    if (in_list(base, OTHER)) {
        return INSN_OTHER;
    }
    if (base[0] == 'v') {
        return thumb_vfp_or_vector(base, ops);
    }
    if (in_list(base, THUMB_BRANCH)) {
        return INSN_BRANCH;
    }
    if (starts(base, "ldr") || starts(base, "ldm") || starts(base, "lda") || strcmp(base, "pop") == 0) {
        return INSN_LOAD;
    }
    if (starts(base, "str") || starts(base, "stm") || starts(base, "stl") || strcmp(base, "push") == 0) {
        return INSN_STORE;
    }
    if (in_list(base, DIV)) {
        return INSN_DIV;
    }
    if (in_list(base, DSP)) {
        return INSN_DSP;
    }
    return is_mul(base) ? INSN_MUL : INSN_ALU;
}

static enum insn_class classify_a64(const char *base, const char *ops)
{
    static const char *const BRANCH[] = {"b", "bl", "br", "blr", "ret", "cbz", "cbnz", "tbz", "tbnz", NULL};
    int vector = has_vector_lane(ops) || has_register(ops, "q");
    if (in_list(base, BRANCH)) {
        return INSN_BRANCH; /* "b.eq" has the base "b" */
    }
    if (in_list(base, OTHER)) {
        return INSN_OTHER;
    }
    if (starts(base, "ld")) {
        return vector ? INSN_VECTOR_MEM : INSN_LOAD;
    }
    if (starts(base, "st")) {
        return vector ? INSN_VECTOR_MEM : INSN_STORE;
    }
    if (vector) {
        return INSN_VECTOR;
    }
    if (base[0] == 'f' || strcmp(base, "scvtf") == 0 || strcmp(base, "ucvtf") == 0) {
        return INSN_FP;
    }
    if (has_register(ops, "bhsd")) {
        return INSN_VECTOR; /* scalar Advanced SIMD: sqrdmulh s0, s1, s2 */
    }
    if (in_list(base, DIV)) {
        return INSN_DIV;
    }
    return in_list(base, MUL) ? INSN_MUL : INSN_ALU;
}

enum insn_class insn_classify(const char *disas, const uint8_t *bytes, size_t size, int a64)
{
    char mnemonic[WORD];
    char base[WORD];
    if (disas == NULL) {
        return INSN_OTHER;
    }
    const char *ops = split(disas, base, mnemonic);
    if (base[0] == '\0') {
        return INSN_OTHER;
    }
    return a64 ? classify_a64(base, ops) : classify_thumb(base, ops, bytes, size);
}

static long digits_value(const char *p)
{
    long v = 0;
    for (; isdigit((unsigned char)*p); p++) {
        v = 10 * v + (*p - '0');
    }
    return v;
}

/* Entries of the first {...} list, a range such as "d8-d15" counting each register. */
static unsigned list_registers(const char *ops)
{
    const char *p = strchr(ops, '{');
    if (p == NULL) {
        return 0;
    }
    unsigned count = 0;
    long first = -1;
    for (p++; *p != '\0' && *p != '}'; p++) {
        if (isalpha((unsigned char)*p) && (p[-1] == '{' || p[-1] == ' ' || p[-1] == ',' || p[-1] == '-')) {
            int range_end = p[-1] == '-';
            const char *d = p;
            while (isalpha((unsigned char)*d)) {
                d++;
            }
            long number = isdigit((unsigned char)*d) ? digits_value(d) : -1;
            if (range_end && first >= 0 && number > first) {
                count += (unsigned)(number - first); /* "d8-d15": 8 registers, d8 already counted */
            } else {
                count++;
            }
            first = number;
        }
    }
    return count;
}

unsigned insn_extra_registers(const char *disas, int a64)
{
    char mnemonic[WORD];
    char base[WORD];
    if (disas == NULL) {
        return 0;
    }
    const char *ops = split(disas, base, mnemonic);
    int pair = a64 ? strcmp(base, "ldp") == 0 || strcmp(base, "stp") == 0 || strcmp(base, "ldnp") == 0 ||
                         strcmp(base, "stnp") == 0
                   : strcmp(base, "ldrd") == 0 || strcmp(base, "strd") == 0;
    if (pair) {
        return 1;
    }
    unsigned n = list_registers(ops);
    return n > 1 ? n - 1 : 0;
}
