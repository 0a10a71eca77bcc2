// The hook's TLS parameters on a real TLS connection: the backend's certificate checked against tls-ca-file,
// a client certificate sent from tls-cert-file/tls-key-file, the bearer secret inside the encrypted request.
// The server is tests/tls_server.py (python3 is a build dependency already) with the test-only material of
// tests/data/tls; paths are relative to hook/, where `make test` runs the tests.
#include "auth.h"
#include "fetcher.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

using namespace isc::remote_options;

namespace {

const std::string DATA = "tests/data/tls/";

/// tls_server.py started with popen: its port, then (after one connection) its one line of verdict.
class PyTlsServer {
public:
    PyTlsServer() {
        std::string cmd = "python3 tests/tls_server.py " + DATA + "server.pem " + DATA + "server.key " + DATA +
                          "ca.pem";
        pipe_ = popen(cmd.c_str(), "r");
        EXPECT_NE(nullptr, pipe_);
        port_ = std::stoi(line());
    }
    ~PyTlsServer() {
        if (pipe_) {
            pclose(pipe_);
        }
    }
    std::string url() const { return ("https://127.0.0.1:" + std::to_string(port_) + "/v1/dhcp/options"); }
    /// The next line the server printed (without the newline); "" at its end.
    std::string line() {
        std::string out;
        char buf[4096];
        while (pipe_ && fgets(buf, sizeof(buf), pipe_)) {
            out += buf;
            if (!out.empty() && out.back() == '\n') {
                out.pop_back();
                break;
            }
        }
        return (out);
    }

private:
    FILE* pipe_ = nullptr;
    int port_ = 0;
};

CurlOptions tlsOptions(const std::string& ca) {
    CurlOptions o;
    o.connect_timeout_ms = 5000;
    o.request_timeout_ms = 8000;
    o.auth.secret = "tls-secret-0123456789abcdefghijklmnopqrstuvwxyz";
    o.auth.ca_file = DATA + ca;
    o.auth.cert_file = DATA + "client.pem";
    o.auth.key_file = DATA + "client.key";
    return (o);
}

TEST(TlsTest, VerifiedServerClientCertificateAndSecret) {
    PyTlsServer server;
    CurlFetcher fetcher(tlsOptions("ca.pem"));
    FetchResult r = fetcher.get(server.url() + "?sub82_1=01");
    EXPECT_EQ(FetchResult::Ok, r.kind) << r.error;
    EXPECT_EQ("{\"66\": \"0.0.0.0\"}", r.body);
    std::string verdict = server.line();
    EXPECT_EQ(0u, verdict.rfind("HEAD GET /v1/dhcp/options?sub82_1=01 ", 0)) << verdict;
    EXPECT_NE(std::string::npos, verdict.find("|Authorization: Bearer tls-secret-0123456789abcdefghijklmnopqrstuvwxyz|"))
        << verdict;
}

TEST(TlsTest, ServerFromAnotherCaIsRefused) {
    PyTlsServer server;
    CurlFetcher fetcher(tlsOptions("other-ca.pem"));
    FetchResult r = fetcher.get(server.url());
    EXPECT_EQ(FetchResult::Connect, r.kind);
    EXPECT_EQ(0u, server.line().rfind("REFUSED", 0));   // the hook hung up: nothing was sent
}

TEST(TlsTest, WithoutClientCertificateTheServerRefuses) {
    PyTlsServer server;
    CurlOptions o = tlsOptions("ca.pem");
    o.auth.cert_file.clear();
    o.auth.key_file.clear();
    CurlFetcher fetcher(o);
    FetchResult r = fetcher.get(server.url());
    EXPECT_NE(FetchResult::Ok, r.kind);
    EXPECT_EQ(0u, server.line().rfind("REFUSED", 0));
}

}  // namespace
