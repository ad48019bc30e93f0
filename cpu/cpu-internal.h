/* State shared between cpu/kvm.c, cpu/vcpu.c and cpu/x86.c. */
#ifndef VMM_CPU_INTERNAL_H
#define VMM_CPU_INTERNAL_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/types.h>
#include <stdbool.h>

#include "cpu.h"

struct kvm_state {
    int kvm_fd, vm_fd;
    int vcpu_mmap_size;
    unsigned next_slot;
    bool enabled;
    KvmConfig cfg;
    BootCpuState boot;
};
extern struct kvm_state kvm_state;

typedef struct VCpu {
    unsigned index;
    uint32_t apic_id;
    int fd;
    struct kvm_run *run;
    pthread_t thread;
    bool thread_started;
    bool parked;
    bool stop_after_exit;   /* set by vcpus_stop_current() during an exit */
    pid_t tid;              /* host thread id, for query-cpus-fast */
    struct kvm_lapic_state initial_lapic;
} VCpu;

/* cpu/vcpu.c: vCPU i (i < vcpus_count()), for cpu/kvm-state.c */
VCpu *vcpu_at(unsigned i);

/* cpu/kvm-irq.c */
int kvm_irq_routing_init(void);
void kvm_irq_install_backends(void);

/* cpu/x86.c */
int x86_cpuid_init(const CpuModel *model);
int x86_vcpu_init(VCpu *cpu, const CpuTopology *topo);
int x86_vcpu_reset(VCpu *cpu, const BootCpuState *boot);
void x86_dump_state(VCpu *cpu, FILE *f);

/* Model-specific registers (Intel SDM vol. 4; KVM's in Linux msr.rst). */
#define MSR_IA32_TSC 0x10
#define MSR_KVM_WALL_CLOCK 0x11
#define MSR_KVM_SYSTEM_TIME 0x12
#define MSR_IA32_TSC_ADJUST 0x3b
#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_PHYSBASE0 0x200
#define MSR_MTRR_PHYSMASK0 0x201
#define MSR_MTRR_FIX64K_00000 0x250
#define MSR_MTRR_FIX16K_80000 0x258
#define MSR_MTRR_FIX16K_A0000 0x259
#define MSR_MTRR_FIX4K_C0000 0x268
#define MSR_IA32_CR_PAT 0x277
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_IA32_TSC_DEADLINE 0x6e0
#define MSR_KVM_WALL_CLOCK_NEW 0x4b564d00
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
#define MSR_KVM_ASYNC_PF_EN 0x4b564d02
#define MSR_KVM_STEAL_TIME 0x4b564d03
#define MSR_KVM_PV_EOI_EN 0x4b564d04
#define MSR_KVM_POLL_CONTROL 0x4b564d05
#define MSR_KVM_ASYNC_PF_INT 0x4b564d06
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_TSC_AUX 0xc0000103

#endif
