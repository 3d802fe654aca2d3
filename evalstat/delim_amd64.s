#include "textflag.h"

// func delimMasks(data []byte, commas, lines []uint64) (quote bool)
//
// For each 64-byte block k of data (len(data)/64 blocks; commas and lines
// have room for them, which the Go caller guarantees), bit b of commas[k]
// is set when data[64k+b] is ',' and bit b of lines[k] when it is '\n'.
// quote reports whether data holds a '"'.
TEXT ·delimMasks(SB), NOSPLIT, $0-73
	MOVQ data_base+0(FP), SI
	MOVQ data_len+8(FP), CX
	SHRQ $6, CX
	MOVQ commas_base+24(FP), DI
	MOVQ lines_base+48(FP), DX
	MOVQ $0x2c2c2c2c2c2c2c2c, AX
	MOVQ AX, X0
	PUNPCKLQDQ X0, X0
	MOVQ $0x0a0a0a0a0a0a0a0a, AX
	MOVQ AX, X1
	PUNPCKLQDQ X1, X1
	MOVQ $0x2222222222222222, AX
	MOVQ AX, X10
	PUNPCKLQDQ X10, X10
	PXOR X11, X11 // the quotes found, byte by byte
	TESTQ CX, CX
	JEQ done

loop:
	MOVOU 0(SI), X2
	MOVOU 16(SI), X3
	MOVOU 32(SI), X4
	MOVOU 48(SI), X5

	// Quotes.
	MOVO X2, X6
	PCMPEQB X10, X6
	POR X6, X11
	MOVO X3, X7
	PCMPEQB X10, X7
	POR X7, X11
	MOVO X4, X8
	PCMPEQB X10, X8
	POR X8, X11
	MOVO X5, X9
	PCMPEQB X10, X9
	POR X9, X11

	// Commas.
	MOVO X2, X6
	PCMPEQB X0, X6
	PMOVMSKB X6, AX
	MOVO X3, X7
	PCMPEQB X0, X7
	PMOVMSKB X7, BX
	SHLQ $16, BX
	ORQ BX, AX
	MOVO X4, X8
	PCMPEQB X0, X8
	PMOVMSKB X8, BX
	SHLQ $32, BX
	ORQ BX, AX
	MOVO X5, X9
	PCMPEQB X0, X9
	PMOVMSKB X9, BX
	SHLQ $48, BX
	ORQ BX, AX
	MOVQ AX, 0(DI)

	// Line breaks.
	PCMPEQB X1, X2
	PMOVMSKB X2, AX
	PCMPEQB X1, X3
	PMOVMSKB X3, BX
	SHLQ $16, BX
	ORQ BX, AX
	PCMPEQB X1, X4
	PMOVMSKB X4, BX
	SHLQ $32, BX
	ORQ BX, AX
	PCMPEQB X1, X5
	PMOVMSKB X5, BX
	SHLQ $48, BX
	ORQ BX, AX
	MOVQ AX, 0(DX)

	ADDQ $64, SI
	ADDQ $8, DI
	ADDQ $8, DX
	DECQ CX
	JNZ loop

done:
	PMOVMSKB X11, AX
	TESTL AX, AX
	SETNE quote+72(FP)
	RET
