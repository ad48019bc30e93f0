/* STUB (lead): replaced by the CPU state helper. */
#include "cpu.h"
int kvm_state_register(void) { return 0; }
void vcpus_set_throttle(unsigned percent) { (void)percent; }
unsigned vcpus_throttle(void) { return 0; }
