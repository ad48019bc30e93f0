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

#endif
