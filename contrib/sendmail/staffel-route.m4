dnl Staffel routes for Sendmail: add to sendmail.mc (before MAILER(`smtp')),
dnl then rebuild sendmail.cf. See README.md in this directory.
dnl
dnl Staffel decides the route of each message and writes it into the
dnl envelope: smfi_chgfrom puts the return path on the route's bounce
dnl domain. Sendmail has no sender-dependent relay, so a ruleset reads the
dnl envelope sender ($&f) when it resolves each recipient and sends mail
dnl from the ESP route's bounce domain to the ESP's relay through the
dnl `esp' mailer. One class entry and one mailer per route that does not
dnl leave the default way.
dnl
dnl Staffel's edits arrive at end of message, after Sendmail resolved the
dnl recipients; the resolution is redone when the queue file is read.
dnl With confDELIVERY_MODE `q' (or `d') every message is written to the
dnl queue before it is delivered, so the route applies from the first try.
LOCAL_CONFIG
# Staffel: return-path domains of the ESP route.
C{StaffelEsp}bounce.esp.example.com
MAILER_DEFINITIONS
# Staffel: the ESP's relay (add F=a and an AuthInfo entry if it wants AUTH).
Mesp,		P=[IPC], F=mDFMuXak, S=EnvFromSMTP/HdrFromSMTP, R=EnvToSMTP, E=\r\n, L=990,
		T=DNS/RFC822/SMTP,
		A=TCP $h 587
LOCAL_RULE_0
# Staffel: an envelope sender on the ESP route's bounce domain leaves by the ESP.
R$* < @ $+ > $*		$: $1 < @ $2 > $3 $| $&f
R$* $| $* @ $={StaffelEsp}	$#esp $@ [esp-relay.example.net] $: $1
R$* $| $*		$: $1
