<?php
// The Deconnexion-Sender header, signed by a PHP ENT for the deconnexion gateway.
//   php examples/php/sign_sender.php SECRET ID ROLE UAI [EXPIRES]   (EXPIRES: now + 300 s)
// The secret is the gateway's $DECONNEXION_SECRET (at least 16 bytes); the header is
// "<id>;<role>;<uai>;<expires>;<signature>", fields percent-encoded as RFC 3986
// (rawurlencode), signature = base64url, no padding, of
// HMAC-SHA256(secret, "deconnexion-sender-v1;<id>;<role>;<uai>;<expires>").

function deconnexion_sign_sender(string $secret, string $id, string $role, string $uai, int $expires): string
{
    if (strlen($secret) < 16) {
        throw new InvalidArgumentException('signing secret: at least 16 bytes');
    }
    $signed = implode(';', [rawurlencode($id), rawurlencode($role), rawurlencode($uai), (string) $expires]);
    $mac = hash_hmac('sha256', 'deconnexion-sender-v1;' . $signed, $secret, true);
    return $signed . ';' . rtrim(strtr(base64_encode($mac), '+/', '-_'), '=');
}

if (PHP_SAPI === 'cli' && isset($argv) && realpath($argv[0]) === __FILE__) {
    if ($argc < 5) {
        fwrite(STDERR, "usage: php sign_sender.php SECRET ID ROLE UAI [EXPIRES]\n");
        exit(2);
    }
    $expires = $argc > 5 ? (int) $argv[5] : time() + 300;
    echo deconnexion_sign_sender($argv[1], $argv[2], $argv[3], $argv[4], $expires), "\n";
}
