/*
 * The workers' seccomp filter: a deny list, not an allow list, so the C
 * library and the sanitizers keep working whatever they call; what is
 * denied is what an escaped playbook would need to reach anything outside
 * its process: files, sockets, programs, other processes, the kernel's
 * administrative calls. Under AddressSanitizer, open and ptrace stay
 * allowed (LeakSanitizer reads /proc and stops threads with them).
 */
#include <errno.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "remediad/seccomp.h"

#if defined(__x86_64__)
#define SECCOMP_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SECCOMP_ARCH AUDIT_ARCH_AARCH64
#endif

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static const int denied[] = {
    __NR_execve, __NR_execveat, __NR_socket, __NR_socketpair, __NR_connect,
    __NR_bind, __NR_listen, __NR_accept4, __NR_sendmsg, __NR_recvmsg,
    __NR_sendto, __NR_mount, __NR_umount2, __NR_pivot_root, __NR_chroot,
    __NR_unshare, __NR_setns, __NR_init_module, __NR_finit_module,
    __NR_delete_module, __NR_kexec_load, __NR_reboot, __NR_swapon,
    __NR_swapoff, __NR_bpf, __NR_perf_event_open, __NR_keyctl,
    __NR_add_key, __NR_request_key, __NR_userfaultfd,
    __NR_process_vm_readv, __NR_process_vm_writev, __NR_io_uring_setup,
    __NR_unlinkat, __NR_renameat2, __NR_mkdirat, __NR_symlinkat,
    __NR_linkat, __NR_fchmodat, __NR_fchownat, __NR_truncate,
    __NR_mknodat, __NR_setuid, __NR_setgid, __NR_setreuid, __NR_setregid,
    __NR_setresuid, __NR_setresgid, __NR_setgroups, __NR_clone3,
#ifdef __NR_accept
    __NR_accept,
#endif
#ifdef __NR_fork
    __NR_fork, __NR_vfork,
#endif
#ifdef __NR_unlink
    __NR_unlink, __NR_rename, __NR_renameat, __NR_mkdir, __NR_rmdir,
    __NR_symlink, __NR_link, __NR_chmod, __NR_chown, __NR_lchown,
    __NR_mknod, __NR_creat,
#endif
#ifndef UNDER_ASAN
    __NR_openat, __NR_ptrace, __NR_openat2,
#ifdef __NR_open
    __NR_open,
#endif
#endif
};

#define NDENIED (sizeof denied / sizeof denied[0])

int
seccomp_confine_worker(void)
{
#ifdef SECCOMP_ARCH
	/* Load arch; kill on another; load nr; deny the list; allow. */
	struct sock_filter f[6 + 2 * NDENIED + 1];
	size_t n = 0;

	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    offsetof(struct seccomp_data, arch));
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
	    SECCOMP_ARCH, 1, 0);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
	    SECCOMP_RET_KILL_PROCESS);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
	/* The x32 numbers of the same calls would slip past the list. */
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K,
	    0x40000000u, 0, 1);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
	    SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
#endif
	for (size_t i = 0; i < NDENIED; i++) {
		f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
		    (unsigned)denied[i], 0, 1);
		f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
		    SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
	}
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
	    SECCOMP_RET_ALLOW);
	struct sock_fprog prog = {(unsigned short)n, f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
#else
	return -1;
#endif
}
