/*
 * Interrupt entry stubs, the CPL3 entry/exit path and the AP protected-mode
 * entry.  Every vector gets a stub that pushes a dummy error code where the
 * CPU does not push one (Intel SDM vol. 3, 6.13), then its vector number.
 */
#define KERNEL_DS 0x10
#define USER_CS (0x18 | 3)
#define USER_DS (0x20 | 3)
#define EFLAGS_IOPL3 0x3000
/* struct regs offsets (payload.h) */
#define FRAME_EDX 28
#define FRAME_ECX 32
#define FRAME_EIP 48
#define FRAME_CS 52
#define FRAME_EFLAGS 56
#define FRAME_USER_ESP 60

    .text
    .code32

.macro stub vec
    .align 16
isr_\vec:
    .if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
    .else
    push $0
    .endif
    push $\vec
    jmp isr_common
.endm

    .globl isr_stubs_start
    .align 16
isr_stubs_start:
    .altmacro
.set vec, 0
.rept 256
    stub %vec
.set vec, vec + 1
.endr
    .noaltmacro

/* Stubs are 16 bytes apart; desc.c computes isr_stubs_start + 16 * vector. */

isr_common:
    pusha
    push %es
    push %ds
    mov $KERNEL_DS, %ax
    mov %ax, %ds
    mov %ax, %es
    push %esp
    call isr_dispatch
    add $4, %esp
    testl $3, FRAME_CS(%esp)
    jnz return_to_user
    pop %ds
    pop %es
    popa
    add $8, %esp                /* vector, error code */
    iret

/*
 * Back to CPL3 without iret (KVM's instruction emulator, which runs our CPL0
 * code on the PVM host, cannot emulate a protected-mode iret): push the
 * interrupted eip, eflags, edx and ecx on the user stack and sysexit to
 * user_resume, which pops them and returns (SDM vol. 2, SYSEXIT: CS/SS come
 * from IA32_SYSENTER_CS + 16/24, EIP = edx, ESP = ecx).
 */
return_to_user:
    mov FRAME_USER_ESP(%esp), %edi
    sub $16, %edi
    mov FRAME_EIP(%esp), %eax
    mov %eax, 12(%edi)
    mov FRAME_EFLAGS(%esp), %eax
    mov %eax, 8(%edi)
    mov FRAME_EDX(%esp), %eax
    mov %eax, 4(%edi)
    mov FRAME_ECX(%esp), %eax
    mov %eax, 0(%edi)
    mov %edi, FRAME_ECX(%esp)
    movl $user_resume, FRAME_EDX(%esp)
    pop %ds
    pop %es
    popa
    sysexit                     /* the rest of the frame on esp0 is dropped */

user_resume:
    pop %ecx
    pop %edx
    popf
    ret

/*
 * uint32_t run_user(void (*fn)(void)): enter CPL3 with IOPL 3 on the user
 * stack at user_entry, which calls fn.  user_return() executes sysenter,
 * which lands in syscall_entry (as does an int $0x80 gate): it drops the
 * interrupt frame, restores the callee-saved registers saved here and
 * returns to run_user's caller with eax = the value.
 */
    .globl run_user
run_user:
    push %ebp
    push %ebx
    push %esi
    push %edi
    mov %esp, kernel_saved_esp
    mov 20(%esp), %ebx          /* fn, kept in ebx across sysexit */
    pushf
    orl $EFLAGS_IOPL3, (%esp)
    popf
    mov $USER_DS, %ax
    mov %ax, %ds
    mov %ax, %es
    mov $user_entry, %edx
    mov $user_stack_top, %ecx
    sysexit

user_entry:
    call *%ebx
    push $0
    call user_return

    .globl user_return
user_return:
    mov 4(%esp), %eax
    sysenter
1:  jmp 1b

    .globl user_return_int80
user_return_int80:
    mov 4(%esp), %eax
    int $0x80
1:  jmp 1b

    .globl syscall_entry
syscall_entry:
    mov $KERNEL_DS, %cx
    mov %cx, %ds
    mov %cx, %es
    mov kernel_saved_esp, %esp
    pop %edi
    pop %esi
    pop %ebx
    pop %ebp
    ret

    .section .bss
    .align 16
kernel_saved_esp:
    .long 0
    .align 16
    .space 16384
user_stack_top:
