// How the hook proves itself to the backend: a bearer secret read from a file at load, and optional TLS
// material (CA file, client certificate and key) for an https:// backend URL.
#ifndef REMOTE_OPTIONS_AUTH_H
#define REMOTE_OPTIONS_AUTH_H

#include <cc/data.h>

#include <cstddef>
#include <string>

namespace isc {
namespace remote_options {

/// Shortest secret accepted (characters): 32 random characters are well past guessing.
const size_t MIN_SECRET_CHARS = 32;
/// Longest secret accepted: it travels in a header on every call.
const size_t MAX_SECRET_CHARS = 4096;

struct AuthConfig {
    std::string secret_file;   ///< "auth-secret-file"; empty = no Authorization header is sent
    std::string secret;        ///< its content (trailing whitespace removed), read at load
    std::string ca_file;       ///< "tls-ca-file": the CAs that may sign the backend's certificate (else the system's)
    std::string cert_file;     ///< "tls-cert-file": client certificate (PEM), with tls-key-file
    std::string key_file;      ///< "tls-key-file": its private key (PEM)
};

/// The auth parameters of the hook's (canonical, hyphenated) parameter scope, files read and checked:
/// a secret file that is missing, unreadable, empty, shorter than MIN_SECRET_CHARS or holds characters a
/// header cannot carry; a TLS file that cannot be read; a certificate without its key (or the reverse);
/// TLS files with an http:// URL. Throws ConfigError naming the parameter (never the secret).
AuthConfig parseAuth(const isc::data::ConstElementPtr& scope, const std::string& url);

/// The secret of a file: its content without trailing whitespace. Throws ConfigError.
std::string readSecretFile(const std::string& path);

/// The auth settings applied to libcurl easy handles: the Authorization header (one list for every
/// handle, owned here) and the TLS files. Handles must not outlive this object.
class CurlAuth {
public:
    explicit CurlAuth(const AuthConfig& cfg);
    ~CurlAuth();
    CurlAuth(const CurlAuth&) = delete;
    CurlAuth& operator=(const CurlAuth&) = delete;

    /// Sets the header and TLS options on a CURL* easy handle (passed as void* so that callers need not
    /// include curl.h).
    void apply(void* handle) const;

private:
    AuthConfig cfg_;
    void* headers_;   ///< curl_slist*
};

}  // namespace remote_options
}  // namespace isc

#endif
