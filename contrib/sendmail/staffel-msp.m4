dnl Staffel and sendmail(1) submissions: add to sendmail.mc (the MTA's),
dnl then rebuild sendmail.cf. See README.md in this directory.
dnl
dnl Sendmail runs no milter on mail submitted on the command line: the
dnl mail submission program (sendmail -t with submit.cf) hands it to the MTA
dnl over SMTP. Give the MSP a loopback daemon of its own (submit.mc:
dnl FEATURE(`msp', `[127.0.0.1]') and RELAY_MAILER_ARGS `TCP $h 10587') and
dnl mark its sessions the way Postfix marks mail submitted without SMTP,
dnl {client_port} 0: Staffel then never refuses a recipient of such mail at
dnl RCPT (the submitting program could not tell which one failed) and
dnl removes suppressed recipients at end of message instead.
DAEMON_OPTIONS(`Port=10587, Addr=127.0.0.1, Name=MSP')dnl
LOCAL_CONFIG
# Staffel: sets macros from rulesets.
Kstaffel_macro macro
LOCAL_RULESETS
SLocal_check_relay
# Staffel: sessions on the MSP's daemon are submissions without SMTP.
R$*			$: $1 $| $&{daemon_name}
R$* $| MSP		$: $1 $| $(staffel_macro {client_port} $@ 0 $)
R$* $| $*		$: $1
