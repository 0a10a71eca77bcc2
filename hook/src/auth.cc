#include "auth.h"

#include "hook_config.h"

#include <cc/simple_parser.h>

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <fstream>

using isc::data::ConstElementPtr;
using isc::data::SimpleParser;

namespace isc {
namespace remote_options {

namespace {

std::string optionalString(const ConstElementPtr& scope, const std::string& name) {
    return (scope->contains(name) ? SimpleParser::getString(scope, name) : std::string());
}

/// The whole file, or a ConfigError naming the parameter. At most `cap` + 1 bytes are read.
std::string readFile(const std::string& param, const std::string& path, size_t cap) {
    if (path.empty()) {
        isc_throw(ConfigError, "'" << param << "' is empty");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        isc_throw(ConfigError, "'" << param << "': cannot read '" << path << "'");
    }
    std::string data;
    data.resize(cap + 1);
    in.read(&data[0], static_cast<std::streamsize>(data.size()));
    if (in.bad()) {
        isc_throw(ConfigError, "'" << param << "': cannot read '" << path << "'");
    }
    data.resize(static_cast<size_t>(in.gcount()));
    return (data);
}

void checkReadable(const std::string& param, const std::string& path) {
    if (readFile(param, path, 1).empty()) {
        isc_throw(ConfigError, "'" << param << "': '" << path << "' is empty");
    }
}

}  // namespace

std::string readSecretFile(const std::string& path) {
    std::string secret = readFile("auth-secret-file", path, MAX_SECRET_CHARS + 2);
    size_t end = secret.find_last_not_of(" \t\r\n");
    secret.resize(end == std::string::npos ? 0 : end + 1);
    if (secret.empty()) {
        isc_throw(ConfigError, "'auth-secret-file': '" << path << "' is empty");
    }
    if (secret.size() > MAX_SECRET_CHARS) {
        isc_throw(ConfigError, "'auth-secret-file': the secret in '" << path << "' is longer than "
                  << MAX_SECRET_CHARS << " characters");
    }
    for (unsigned char c : secret) {
        // A header value: printable ASCII, no spaces (a newline would let the file inject a header).
        if (c <= 0x20 || c >= 0x7f) {
            isc_throw(ConfigError, "'auth-secret-file': the secret in '" << path
                      << "' must be printable ASCII without spaces (one line)");
        }
    }
    if (secret.size() < MIN_SECRET_CHARS) {
        isc_throw(ConfigError, "'auth-secret-file': the secret in '" << path << "' has " << secret.size()
                  << " characters, at least " << MIN_SECRET_CHARS << " are required");
    }
    return (secret);
}

AuthConfig parseAuth(const ConstElementPtr& scope, const std::string& url) {
    AuthConfig cfg;
    if (scope->contains("auth-secret-file")) {
        cfg.secret_file = SimpleParser::getString(scope, "auth-secret-file");
        cfg.secret = readSecretFile(cfg.secret_file);
    }
    cfg.ca_file = optionalString(scope, "tls-ca-file");
    cfg.cert_file = optionalString(scope, "tls-cert-file");
    cfg.key_file = optionalString(scope, "tls-key-file");
    bool any_tls = scope->contains("tls-ca-file") || scope->contains("tls-cert-file") ||
                   scope->contains("tls-key-file");
    std::string scheme(url.substr(0, 8));
    std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                   [](unsigned char c) { return (static_cast<char>(std::tolower(c))); });
    if (any_tls && scheme != "https://") {
        isc_throw(ConfigError, "'tls-ca-file', 'tls-cert-file' and 'tls-key-file' need an https:// 'url'");
    }
    if (scope->contains("tls-cert-file") != scope->contains("tls-key-file")) {
        isc_throw(ConfigError, "'tls-cert-file' and 'tls-key-file' go together: give both or neither");
    }
    if (scope->contains("tls-ca-file")) {
        checkReadable("tls-ca-file", cfg.ca_file);
    }
    if (scope->contains("tls-cert-file")) {
        checkReadable("tls-cert-file", cfg.cert_file);
        checkReadable("tls-key-file", cfg.key_file);
    }
    return (cfg);
}

CurlAuth::CurlAuth(const AuthConfig& cfg) : cfg_(cfg), headers_(0) {
    if (!cfg_.secret.empty()) {
        std::string line = "Authorization: Bearer " + cfg_.secret;
        headers_ = curl_slist_append(0, line.c_str());
        if (!headers_) {
            isc_throw(isc::Unexpected, "out of memory building the Authorization header");
        }
    }
}

CurlAuth::~CurlAuth() {
    curl_slist_free_all(static_cast<curl_slist*>(headers_));
}

void CurlAuth::apply(void* handle) const {
    CURL* h = static_cast<CURL*>(handle);
    if (headers_) {
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, static_cast<curl_slist*>(headers_));
    }
    if (!cfg_.ca_file.empty()) {
        curl_easy_setopt(h, CURLOPT_CAINFO, cfg_.ca_file.c_str());
    }
    if (!cfg_.cert_file.empty()) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, cfg_.cert_file.c_str());
        curl_easy_setopt(h, CURLOPT_SSLKEY, cfg_.key_file.c_str());
    }
    // Verification stays libcurl's default (peer and host name checked); said here so that nobody
    // "fixes" a lab certificate by turning it off.
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
}

}  // namespace remote_options
}  // namespace isc
