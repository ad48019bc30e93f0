/*
 * Intel 8254x register map and bit definitions, as the "PCI/PCI-X Family
 * of Gigabit Ethernet Controllers Software Developer's Manual" (8254x SDM,
 * rev. 4.0) names them: chapter 13 (registers), 3.2-3.4 (descriptors),
 * 5 (EEPROM), 8 (PHY registers of the 82540EM's integrated M88E1011 PHY).
 * Offsets are byte offsets into BAR0.
 */
#ifndef VMM_E1000_REGS_H
#define VMM_E1000_REGS_H

/* ---- general (13.4.1 - 13.4.6) ---- */
#define E1000_CTRL 0x0000
#define  E1000_CTRL_FD 0x00000001
#define  E1000_CTRL_SLU 0x00000040
#define  E1000_CTRL_SPD_1000 0x00000200
#define  E1000_CTRL_SWDPIN0 0x00040000
#define  E1000_CTRL_SWDPIN2 0x00100000
#define  E1000_CTRL_RST 0x04000000
#define  E1000_CTRL_VME 0x40000000
#define  E1000_CTRL_PHY_RST 0x80000000u
#define E1000_STATUS 0x0008
#define  E1000_STATUS_FD 0x00000001
#define  E1000_STATUS_LU 0x00000002
#define  E1000_STATUS_SPEED_1000 0x00000080
#define  E1000_STATUS_ASDV_1000 0x00000300
#define  E1000_STATUS_MTXCKOK 0x00000400
#define  E1000_STATUS_GIO_MASTER_EN 0x00080000
#define E1000_EECD 0x0010
#define  E1000_EECD_SK 0x001
#define  E1000_EECD_CS 0x002
#define  E1000_EECD_DI 0x004
#define  E1000_EECD_DO 0x008
#define  E1000_EECD_FWE 0x030
#define  E1000_EECD_REQ 0x040
#define  E1000_EECD_GNT 0x080
#define  E1000_EECD_PRES 0x100
#define E1000_EERD 0x0014
#define  E1000_EERD_START 0x00000001
#define  E1000_EERD_DONE 0x00000010
#define  E1000_EERD_ADDR_SHIFT 8
#define  E1000_EERD_DATA_SHIFT 16
#define E1000_CTRL_EXT 0x0018
#define E1000_FLA 0x001c
#define E1000_MDIC 0x0020
#define  E1000_MDIC_DATA_MASK 0x0000ffff
#define  E1000_MDIC_REG_SHIFT 16
#define  E1000_MDIC_PHY_SHIFT 21
#define  E1000_MDIC_OP_WRITE 0x04000000
#define  E1000_MDIC_OP_READ 0x08000000
#define  E1000_MDIC_READY 0x10000000
#define  E1000_MDIC_INT_EN 0x20000000
#define  E1000_MDIC_ERROR 0x40000000
#define E1000_FCAL 0x0028
#define E1000_FCAH 0x002c
#define E1000_FCT 0x0030
#define E1000_VET 0x0038
#define E1000_FCTTV 0x0170
#define E1000_TXCW 0x0178
#define E1000_RXCW 0x0180
#define E1000_LEDCTL 0x0e00
#define E1000_PBA 0x1000

/* ---- interrupts (13.4.17 - 13.4.21) ---- */
#define E1000_ICR 0x00c0
#define E1000_ITR 0x00c4
#define E1000_ICS 0x00c8
#define E1000_IMS 0x00d0
#define E1000_IMC 0x00d8
#define  E1000_ICR_TXDW 0x00000001
#define  E1000_ICR_TXQE 0x00000002
#define  E1000_ICR_LSC 0x00000004
#define  E1000_ICR_RXSEQ 0x00000008
#define  E1000_ICR_RXDMT0 0x00000010
#define  E1000_ICR_RXO 0x00000040
#define  E1000_ICR_RXT0 0x00000080
#define  E1000_ICR_MDAC 0x00000200
#define  E1000_ICR_VALID 0x0001f6df  /* causes the 82540EM implements */

/* ---- receive (13.4.22 - 13.4.33) ---- */
#define E1000_RCTL 0x0100
#define  E1000_RCTL_EN 0x00000002
#define  E1000_RCTL_SBP 0x00000004
#define  E1000_RCTL_UPE 0x00000008
#define  E1000_RCTL_MPE 0x00000010
#define  E1000_RCTL_LPE 0x00000020
#define  E1000_RCTL_RDMTS_SHIFT 8
#define  E1000_RCTL_MO_SHIFT 12
#define  E1000_RCTL_BAM 0x00008000
#define  E1000_RCTL_BSIZE_SHIFT 16
#define  E1000_RCTL_VFE 0x00040000
#define  E1000_RCTL_BSEX 0x02000000
#define  E1000_RCTL_SECRC 0x04000000
#define E1000_FCRTL 0x2160
#define E1000_FCRTH 0x2168
#define E1000_RDFH 0x2410
#define E1000_RDFT 0x2418
#define E1000_RDFHS 0x2420
#define E1000_RDFTS 0x2428
#define E1000_RDFPC 0x2430
#define E1000_RDBAL 0x2800
#define E1000_RDBAH 0x2804
#define E1000_RDLEN 0x2808
#define E1000_RDH 0x2810
#define E1000_RDT 0x2818
#define E1000_RDTR 0x2820
#define  E1000_RDTR_FPD 0x80000000u   /* flush partial descriptor block */
#define E1000_RXDCTL 0x2828
#define E1000_RADV 0x282c
#define E1000_RSRPD 0x2c00
#define E1000_RXCSUM 0x5000
#define E1000_MTA 0x5200              /* 128 entries */
#define E1000_RA 0x5400               /* 16 RAL/RAH pairs */
#define  E1000_RAH_AV 0x80000000u
#define E1000_VFTA 0x5600             /* 128 entries */

/* ---- transmit (13.4.34 - 13.4.46) ---- */
#define E1000_TCTL 0x0400
#define  E1000_TCTL_EN 0x00000002
#define E1000_TIPG 0x0410
#define E1000_AIT 0x0458
#define E1000_TXDMAC 0x3000
#define E1000_TDFH 0x3410
#define E1000_TDFT 0x3418
#define E1000_TDFHS 0x3420
#define E1000_TDFTS 0x3428
#define E1000_TDFPC 0x3430
#define E1000_TDBAL 0x3800
#define E1000_TDBAH 0x3804
#define E1000_TDLEN 0x3808
#define E1000_TDH 0x3810
#define E1000_TDT 0x3818
#define E1000_TIDV 0x3820
#define  E1000_TIDV_FPD 0x80000000u
#define E1000_TXDCTL 0x3828
#define E1000_TADV 0x382c
#define E1000_TSPMT 0x3830

/* ---- statistics (13.4.47 - 13.4.85): all read-to-clear ---- */
#define E1000_STATS_START 0x4000
#define E1000_STATS_END 0x4100
#define E1000_MPC 0x4010
#define E1000_PRC64 0x405c            /* PRC64..PRC1522: 6 registers */
#define E1000_GPRC 0x4074
#define E1000_BPRC 0x4078
#define E1000_MPRC 0x407c
#define E1000_GPTC 0x4080
#define E1000_GORCL 0x4088
#define E1000_GORCH 0x408c
#define E1000_GOTCL 0x4090
#define E1000_GOTCH 0x4094
#define E1000_RNBC 0x40a0
#define E1000_ROC 0x40ac
#define E1000_TORL 0x40c0
#define E1000_TORH 0x40c4
#define E1000_TOTL 0x40c8
#define E1000_TOTH 0x40cc
#define E1000_TPR 0x40d0
#define E1000_TPT 0x40d4
#define E1000_PTC64 0x40d8            /* PTC64..PTC1522: 6 registers */
#define E1000_MPTC 0x40f0
#define E1000_BPTC 0x40f4
#define E1000_TSCTC 0x40f8

/* ---- wakeup and manageability (13.6, 13.7) ---- */
#define E1000_WUC 0x5800
#define E1000_WUFC 0x5808
#define E1000_WUS 0x5810
#define E1000_MANC 0x5820
#define E1000_IPAV 0x5838
#define E1000_IP4AT 0x5840
#define E1000_IP6AT 0x5880
#define E1000_WUPL 0x5900
#define E1000_WUPM 0x5a00
#define E1000_SWSM 0x5b50
#define E1000_FFLT 0x5f00
#define E1000_FFMT 0x9000
#define E1000_FFVT 0x9800

#define E1000_MMIO_SIZE 0x20000
#define E1000_IO_SIZE 0x40
#define E1000_IOADDR 0x00             /* I/O BAR: indirect access (13.2.2) */
#define E1000_IODATA 0x04

/* ---- descriptors (3.2.3, 3.3.2 - 3.3.11) ---- */
#define E1000_DESC_SIZE 16
/* rx status and errors bytes */
#define E1000_RXD_STAT_DD 0x01
#define E1000_RXD_STAT_EOP 0x02
#define E1000_RXD_STAT_IXSM 0x04
#define E1000_RXD_STAT_VP 0x08
#define E1000_RXD_ERR_RXE 0x80
/* tx command byte (bits 31:24 of the third dword) */
#define E1000_TXD_CMD_EOP 0x01
#define E1000_TXD_CMD_IFCS 0x02
#define E1000_TXD_CMD_IC 0x04         /* legacy: insert checksum */
#define E1000_TXD_CMD_TSE 0x04        /* data/context: TCP segmentation */
#define E1000_TXD_CMD_RS 0x08
#define E1000_TXD_CMD_RPS 0x10        /* legacy only */
#define E1000_TXD_CMD_DEXT 0x20
#define E1000_TXD_CMD_VLE 0x40
#define E1000_TXD_CMD_IDE 0x80
/* context TUCMD bits */
#define E1000_TXD_TUCMD_TCP 0x01
#define E1000_TXD_TUCMD_IP 0x02
/* DTYP (bits 23:20 of the third dword) */
#define E1000_TXD_DTYP_CTX 0x0
#define E1000_TXD_DTYP_DATA 0x1
/* data descriptor POPTS */
#define E1000_TXD_POPTS_IXSM 0x01
#define E1000_TXD_POPTS_TXSM 0x02
#define E1000_TXD_STAT_DD 0x01

/* ---- PHY (M88E1011, IEEE 802.3 clause 22 registers) ---- */
#define PHY_BMCR 0x00
#define  PHY_BMCR_ANRESTART 0x0200
#define  PHY_BMCR_AUTOEN 0x1000
#define  PHY_BMCR_RESET 0x8000
#define PHY_BMSR 0x01
#define  PHY_BMSR_LINK 0x0004
#define  PHY_BMSR_AN_COMP 0x0020
#define PHY_ID1 0x02
#define PHY_ID2 0x03
#define PHY_ANAR 0x04
#define PHY_ANLPAR 0x05
#define  PHY_ANLPAR_ACK 0x4000
#define PHY_ANER 0x06
#define PHY_CTRL1000 0x09
#define PHY_STAT1000 0x0a
#define PHY_SPEC_CTRL 0x10
#define PHY_SPEC_STATUS 0x11
#define PHY_EXT_SPEC_CTRL 0x14
#define PHY_RX_ERR_CNTR 0x15
#define PHY_NREGS 0x20

#define E1000_EEPROM_WORDS 64
#define E1000_EEPROM_SUM 0xbaba       /* words 0x00-0x3f add up to this (5.6.1) */

#endif
