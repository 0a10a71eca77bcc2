// The hook's credential: the secret file's checks at load, the TLS parameters' checks, and the
// Authorization header on every backend call.
#include "auth.h"
#include "fetcher.h"
#include "hook_config.h"

#include <cc/data.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

using namespace isc::remote_options;
using isc::data::Element;

namespace {

const std::string SECRET = "s3cr3t-0123456789abcdefghijklmnopqrstuv";   // 39 characters

/// A file in the test's temporary directory, removed at the end.
class TempFile {
public:
    explicit TempFile(const std::string& content) {
        char tmpl[] = "/tmp/remote-options-auth-XXXXXX";
        int fd = mkstemp(tmpl);
        EXPECT_GE(fd, 0);
        path_ = tmpl;
        EXPECT_EQ(static_cast<ssize_t>(content.size()), write(fd, content.data(), content.size()));
        close(fd);
    }
    ~TempFile() { std::remove(path_.c_str()); }
    const std::string& path() const { return (path_); }

private:
    std::string path_;
};

Config parse(const std::string& url, const std::string& extra) {
    return (parseConfig(Element::fromJSON("{\"url\": \"" + url + "\"" + extra + "}")));
}

/// The load error of a configuration, or "" when it loads.
std::string loadError(const std::string& url, const std::string& extra) {
    try {
        parse(url, extra);
    } catch (const ConfigError& ex) {
        return (ex.what());
    }
    return ("");
}

std::string secretParam(const std::string& path) {
    return (", \"auth-secret-file\": \"" + path + "\"");
}

TEST(AuthTest, SecretReadAtLoadTrailingNewlineDropped) {
    TempFile file(SECRET + "\n");
    Config cfg = parse("http://10.89.0.3:8080/v1/dhcp/options", secretParam(file.path()));
    EXPECT_EQ(SECRET, cfg.auth.secret);
    EXPECT_EQ(file.path(), cfg.auth.secret_file);
    // The underscore spelling too, as every parameter.
    Config under = parseConfig(Element::fromJSON(
        "{\"url\": \"http://h/\", \"auth_secret_file\": \"" + file.path() + "\"}"));
    EXPECT_EQ(SECRET, under.auth.secret);
}

TEST(AuthTest, NoSecretFileNoSecret) {
    EXPECT_EQ("", parse("http://h/", "").auth.secret);
}

TEST(AuthTest, BadSecretFilesAreLoadErrors) {
    TempFile empty("");
    TempFile blank(" \n\n");
    TempFile short_secret(std::string(MIN_SECRET_CHARS - 1, 'a') + "\n");
    TempFile two_lines(std::string(40, 'a') + "\nX-Injected: 1\n");
    TempFile spaced(std::string(20, 'a') + " " + std::string(20, 'a'));
    TempFile huge(std::string(MAX_SECRET_CHARS + 1, 'a'));
    struct Case {
        std::string path;
        std::string says;
    } cases[] = {
        {"/nonexistent/malina/hook.secret", "cannot read"},
        {"/", "cannot read"},                 // a directory
        {"", "is empty"},
        {empty.path(), "is empty"},
        {blank.path(), "is empty"},
        {short_secret.path(), "at least 32"},
        {two_lines.path(), "printable ASCII"},
        {spaced.path(), "printable ASCII"},
        {huge.path(), "longer than"},
    };
    for (const Case& c : cases) {
        std::string error = loadError("http://h/", secretParam(c.path));
        EXPECT_NE(std::string::npos, error.find("auth-secret-file")) << c.path << ": " << error;
        EXPECT_NE(std::string::npos, error.find(c.says)) << c.path << ": " << error;
        EXPECT_EQ(std::string::npos, error.find("aaaaaaaa")) << "the secret is echoed: " << error;
    }
    EXPECT_NE("", loadError("http://h/", ", \"auth-secret-file\": 5"));
}

TEST(AuthTest, ExactlyTheShortestSecret) {
    TempFile file(std::string(MIN_SECRET_CHARS, 'k'));
    EXPECT_EQ(std::string(MIN_SECRET_CHARS, 'k'), parse("http://h/", secretParam(file.path())).auth.secret);
}

TEST(AuthTest, TlsParameters) {
    TempFile ca("-----BEGIN CERTIFICATE-----\n");
    TempFile cert("cert");
    TempFile key("key");
    std::string ca_param = ", \"tls-ca-file\": \"" + ca.path() + "\"";
    std::string pair = ", \"tls-cert-file\": \"" + cert.path() + "\", \"tls-key-file\": \"" + key.path() + "\"";
    Config cfg = parse("https://backend.lab:8443/v1/dhcp/options", ca_param + pair);
    EXPECT_EQ(ca.path(), cfg.auth.ca_file);
    EXPECT_EQ(cert.path(), cfg.auth.cert_file);
    EXPECT_EQ(key.path(), cfg.auth.key_file);
    EXPECT_EQ("", loadError("HTTPS://backend.lab/", ca_param));
    EXPECT_NE(std::string::npos, loadError("http://backend.lab/", ca_param).find("need an https://"));
    EXPECT_NE(std::string::npos,
              loadError("https://b/", ", \"tls-cert-file\": \"" + cert.path() + "\"").find("go together"));
    EXPECT_NE(std::string::npos,
              loadError("https://b/", ", \"tls-ca-file\": \"/nonexistent/ca.pem\"").find("cannot read"));
    TempFile empty("");
    EXPECT_NE(std::string::npos,
              loadError("https://b/", ", \"tls-ca-file\": \"" + empty.path() + "\"").find("is empty"));
}

/// Accepts one connection on 127.0.0.1, keeps the request head, answers 200 with a small JSON body.
class OneShotServer {
public:
    OneShotServer() {
        fd_ = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(0, bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)));
        EXPECT_EQ(0, listen(fd_, 4));
        socklen_t len = sizeof(addr);
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { serve(); });
    }
    ~OneShotServer() {
        thread_.join();
        close(fd_);
    }
    std::string url() const { return ("http://127.0.0.1:" + std::to_string(port_) + "/v1/dhcp/options"); }
    /// The request head; valid once the fetch returned.
    std::string head() {
        thread_.join();
        thread_ = std::thread([] {});
        return (head_);
    }

private:
    void serve() {
        int c = accept(fd_, 0, 0);
        if (c < 0) {
            return;
        }
        char buf[8192];
        while (head_.find("\r\n\r\n") == std::string::npos) {
            ssize_t n = recv(c, buf, sizeof(buf), 0);
            if (n <= 0) {
                break;
            }
            head_.append(buf, static_cast<size_t>(n));
        }
        std::string body = "{\"66\": \"0.0.0.0\"}";
        std::string out = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                          "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
        EXPECT_EQ(static_cast<ssize_t>(out.size()), send(c, out.data(), out.size(), MSG_NOSIGNAL));
        close(c);
    }

    int fd_ = -1;
    uint16_t port_ = 0;
    std::string head_;
    std::thread thread_;
};

CurlOptions fetchOptions() {
    CurlOptions o;
    o.connect_timeout_ms = 1000;
    o.request_timeout_ms = 2000;
    return (o);
}

TEST(AuthTest, EveryCallCarriesTheBearerSecret) {
    OneShotServer server;
    CurlOptions o = fetchOptions();
    o.auth.secret = SECRET;
    CurlFetcher fetcher(o);
    FetchResult r = fetcher.get(server.url() + "?sub82_1=01");
    EXPECT_EQ(FetchResult::Ok, r.kind) << r.error;
    EXPECT_NE(std::string::npos, server.head().find("\r\nAuthorization: Bearer " + SECRET + "\r\n"));
}

TEST(AuthTest, NoSecretNoHeader) {
    OneShotServer server;
    CurlFetcher fetcher(fetchOptions());
    EXPECT_EQ(FetchResult::Ok, fetcher.get(server.url()).kind);
    EXPECT_EQ(std::string::npos, server.head().find("Authorization"));
}

}  // namespace
