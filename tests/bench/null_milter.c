/* null_milter.c - the cheapest milter libmilter allows, for the bench.
 *
 * Purpose: the throughput bench's "null-milter" mode measures what any
 *   milter costs Postfix and itself before it does any work: it negotiates
 *   away every stage but end of message (skipped stages, no replies where
 *   the protocol allows none) and answers "continue" there. Built by the
 *   bench with Debian's libmilter (cc ... -lmilter), unmodified.
 *   With -DANSWER_RCPT ("null-milter-rcpt") it also asks for each RCPT TO
 *   and answers "continue" there, as a milter that may refuse a recipient
 *   must: the floor of a reply at RCPT, per recipient.
 * Usage: null_milter SOCKET   (unix:/path or inet:PORT@HOST); runs in the
 *   foreground until killed.
 */
#include <libmilter/mfapi.h>
#include <stdio.h>

static sfsistat on_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
                             unsigned long f3, unsigned long *pf0, unsigned long *pf1,
                             unsigned long *pf2, unsigned long *pf3) {
#ifdef ANSWER_RCPT
    const unsigned long rcpt = 0;  /* RCPT TO sent, and answered */
#else
    const unsigned long rcpt = SMFIP_NORCPT | SMFIP_NR_RCPT;
#endif
    const unsigned long wanted =
        SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOMAIL | SMFIP_NOBODY | SMFIP_NOHDRS |
        SMFIP_NOEOH | SMFIP_NOUNKNOWN | SMFIP_NODATA | SMFIP_NR_CONN | SMFIP_NR_HELO |
        SMFIP_NR_MAIL | SMFIP_NR_DATA | SMFIP_NR_UNKN | SMFIP_NR_EOH | SMFIP_NR_BODY |
        SMFIP_NR_HDR | rcpt;
    (void)ctx;
    (void)f0;
    (void)f2;
    (void)f3;
    *pf0 = 0;
    *pf1 = wanted & f1;
    *pf2 = 0;
    *pf3 = 0;
    return SMFIS_CONTINUE;
}

#ifdef ANSWER_RCPT
static sfsistat on_rcpt(SMFICTX *ctx, char **argv) {
    (void)ctx;
    (void)argv;
    return SMFIS_CONTINUE;
}
#endif

static sfsistat on_eom(SMFICTX *ctx) {
    (void)ctx;
    return SMFIS_CONTINUE;
}

int main(int argc, char **argv) {
    struct smfiDesc desc = {0};
    if (argc != 2) {
        fprintf(stderr, "usage: null_milter SOCKET\n");
        return 64;
    }
    desc.xxfi_name = "null_milter";
    desc.xxfi_version = SMFI_VERSION;
    desc.xxfi_eom = on_eom;
#ifdef ANSWER_RCPT
    desc.xxfi_envrcpt = on_rcpt;
    desc.xxfi_flags = 0;
#endif
    desc.xxfi_negotiate = on_negotiate;
    if (smfi_setconn(argv[1]) != MI_SUCCESS || smfi_register(desc) != MI_SUCCESS ||
        smfi_opensocket(1) != MI_SUCCESS) {
        fprintf(stderr, "null_milter: cannot listen on %s\n", argv[1]);
        return 69;
    }
    return smfi_main() == MI_SUCCESS ? 0 : 70;
}
