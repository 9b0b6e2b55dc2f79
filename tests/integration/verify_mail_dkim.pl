#!/usr/bin/perl
# verify_mail_dkim.pl - verify a message's DKIM signatures with Mail::DKIM, no DNS.
#
# Purpose: an independent second opinion on the signatures staffeld makes
#   (the first is python3-dkim, see dkim_verify.py). Public keys come from a
#   records file instead of DNS, so tests never leave the machine.
# Usage: verify_mail_dkim.pl RECORDS_FILE < message
#   RECORDS_FILE: one record a line, "NAME<TAB>TXT", e.g.
#     s2026._domainkey.example.com<TAB>v=DKIM1; k=rsa; p=MIIB...
#   Blank lines and lines starting with '#' are ignored. Names are compared
#   without case and without a trailing dot.
# Output: one line per DKIM-Signature header, in header order:
#     d=DOMAIN s=SELECTOR a=ALGORITHM result=RESULT detail=DETAIL
#   RESULT is Mail::DKIM's: pass, fail, invalid, temperror, none, ...; DETAIL
#   is its result_detail() (may contain spaces; it runs to the end of the
#   line). A tag missing from the signature prints as "-". DomainKeys
#   (DomainKey-Signature) headers are not reported. A DKIM-Signature that
#   Mail::DKIM cannot parse at all is not reported either.
# Resolver: Mail::DKIM::DNS calls $resolver->send(NAME, TYPE), reads the
#   packet's header->rcode and answer section, and on no packet reads
#   $resolver->errorstring. StaticResolver answers exactly that from the file:
#   NOERROR with the TXT record, or NXDOMAIN.
# Exit: 0 when it could read its input (whatever the verdicts), 2 on usage or
#   input errors. Debian 12: libmail-dkim-perl, libnet-dns-perl.
use strict;
use warnings;

use Mail::DKIM::DNS;
use Mail::DKIM::Verifier;
use Net::DNS;

package StaticResolver;

sub new {
    my ( $class, %records ) = @_;
    return bless { records => \%records, error => 'NOERROR' }, $class;
}

sub canonical_name {
    my ($name) = @_;
    $name = lc $name;
    $name =~ s/\.\z//;
    return $name;
}

# A TXT record's text as character-strings of at most 255 bytes (RFC 1035).
sub txt_strings {
    my ($text) = @_;
    my @strings;
    push @strings, substr( $text, 0, 255, '' ) while length $text;
    return @strings ? @strings : ('');
}

sub send {
    my ( $self, $name, $type ) = @_;
    $type = uc( $type // 'A' );
    my $packet = Net::DNS::Packet->new( $name, $type, 'IN' );
    $packet->header->qr(1);
    $packet->header->aa(1);
    my $text = $self->{records}{ canonical_name($name) };
    if ( !defined $text ) {
        $packet->header->rcode('NXDOMAIN');
        return $packet;
    }
    $packet->header->rcode('NOERROR');
    if ( $type eq 'TXT' ) {
        $packet->push(
            answer => Net::DNS::RR->new(
                name    => $name,
                type    => 'TXT',
                ttl     => 300,
                txtdata => [ txt_strings($text) ],
            )
        );
    }
    return $packet;
}

sub errorstring {
    my ($self) = @_;
    return $self->{error};
}

package main;

sub read_records {
    my ($path) = @_;
    open my $fh, '<', $path or die "cannot read $path: $!\n";
    my %records;
    while ( my $line = <$fh> ) {
        $line =~ s/\r?\n\z//;
        next if $line =~ /^\s*(#|\z)/;
        my ( $name, $text ) = split /\t/, $line, 2;
        die "$path:$.: want NAME<TAB>TXT\n" unless defined $text;
        $records{ StaticResolver::canonical_name($name) } = $text;
    }
    close $fh;
    return %records;
}

sub tag_or_dash {
    my ($value) = @_;
    return ( defined $value && length $value ) ? $value : '-';
}

sub main {
    if ( @ARGV != 1 ) {
        print STDERR "usage: verify_mail_dkim.pl RECORDS_FILE < message\n";
        return 2;
    }
    my %records = eval { read_records( $ARGV[0] ) };
    if ($@) {
        print STDERR "verify_mail_dkim.pl: $@";
        return 2;
    }
    Mail::DKIM::DNS::resolver( StaticResolver->new(%records) );

    binmode STDIN;
    my $verifier = Mail::DKIM::Verifier->new();
    while ( my $chunk = <STDIN> ) {
        # Mail::DKIM wants CRLF line ends; accept bare LF input too.
        $chunk =~ s/(?<!\r)\n/\r\n/g;
        $verifier->PRINT($chunk);
    }
    $verifier->CLOSE;

    foreach my $signature ( $verifier->signatures ) {
        next if $signature->isa('Mail::DKIM::DkSignature');
        my $detail = $signature->result_detail // '';
        $detail =~ s/[\r\n]+/ /g;
        printf "d=%s s=%s a=%s result=%s detail=%s\n",
          tag_or_dash( $signature->domain ),
          tag_or_dash( $signature->selector ),
          tag_or_dash( $signature->algorithm ),
          tag_or_dash( $signature->result ), $detail;
    }
    return 0;
}

exit main();
