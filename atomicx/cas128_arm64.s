#include "textflag.h"

// func cas128(p *uint64, old0, old1, new0, new1 uint64) bool
//
// A load-acquire/store-release exclusive pair loop. On a mismatch the pair
// read is stored back (a successful store-exclusive of the same values)
// so that the failure is atomic too, as the ARM ARM requires for a
// 128-bit compare with LDAXP/STLXP.
TEXT ·cas128(SB), NOSPLIT, $0-41
	MOVD	p+0(FP), R0
	MOVD	old0+8(FP), R1
	MOVD	old1+16(FP), R2
	MOVD	new0+24(FP), R3
	MOVD	new1+32(FP), R4
loop:
	LDAXP	(R0), (R5, R6)
	CMP	R1, R5
	BNE	fail
	CMP	R2, R6
	BNE	fail
	STLXP	(R3, R4), (R0), R7
	CBNZ	R7, loop
	MOVD	$1, R8
	MOVB	R8, ret+40(FP)
	RET
fail:
	STLXP	(R5, R6), (R0), R7
	CBNZ	R7, loop
	MOVB	ZR, ret+40(FP)
	RET
