// The worker channel's framing, the log ring and the escaping of candidate text.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <cerrno>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <string>
#include <vector>

#include "worker/worker_channel.h"

using namespace asiarch::host;
using asiarch::escape_control;

namespace {

struct Pair {
  int host = -1, worker = -1;
  Pair() {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    host = sv[0];
    worker = sv[1];
    fcntl(host, F_SETFL, O_NONBLOCK);
  }
  ~Pair() {
    ::close(host);
    if (worker >= 0) ::close(worker);
  }
};

}  // namespace

TEST(WorkerChannel, FramesArriveWholeAndInOrderAcrossPartialReads) {
  Pair p;
  ASSERT_TRUE(write_frame(p.worker, FrameKind::json, R"({"kind":"stage"})"));
  const std::string blob(300000, 'b');  // larger than one read
  FrameReader r;
  std::vector<Frame> got;
  bool eof = false;
  ASSERT_TRUE(r.pump(p.host, got, eof));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, R"({"kind":"stage"})");
  const char header[5] = {static_cast<char>(blob.size() & 0xff), static_cast<char>((blob.size() >> 8) & 0xff),
                          static_cast<char>((blob.size() >> 16) & 0xff), 0, 'B'};
  ASSERT_EQ(::write(p.worker, header, 5), 5);
  ASSERT_EQ(::write(p.worker, blob.data(), 1000), 1000);
  got.clear();
  ASSERT_TRUE(r.pump(p.host, got, eof));
  EXPECT_TRUE(got.empty());  // not whole yet
  fcntl(p.worker, F_SETFL, O_NONBLOCK);
  size_t at = 1000;
  while (at < blob.size()) {
    const ssize_t w = ::write(p.worker, blob.data() + at, blob.size() - at);
    if (w > 0) at += static_cast<size_t>(w);
    ASSERT_TRUE(w > 0 || errno == EAGAIN);
    ASSERT_TRUE(r.pump(p.host, got, eof));
  }
  ASSERT_TRUE(r.pump(p.host, got, eof));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].kind, FrameKind::blob);
  EXPECT_EQ(got[0].payload, blob);
  ::close(p.worker);
  p.worker = -1;
  ASSERT_TRUE(r.pump(p.host, got, eof));
  EXPECT_TRUE(eof);
}

TEST(WorkerChannel, AnOversizedOrUnknownFrameIsAProtocolError) {
  auto error_for = [](std::array<unsigned char, 5> header) {
    Pair p;
    EXPECT_EQ(::write(p.worker, header.data(), header.size()), 5);
    FrameReader r;
    std::vector<Frame> got;
    bool eof = false;
    auto st = r.pump(p.host, got, eof);
    EXPECT_TRUE(got.empty());
    return st ? std::string("no error") : st.error().message;
  };
  EXPECT_NE(error_for({0, 0, 0, 0x40, 'J'}).find("a frame of 1073741824 bytes (limit 8388608)"), std::string::npos);
  EXPECT_NE(error_for({1, 0, 0, 0, 'Z'}).find("unknown frame kind 90"), std::string::npos);
  // The writer refuses too.
  Pair p;
  EXPECT_FALSE(write_frame(p.worker, FrameKind::json, std::string(kMaxJsonFrame + 1, 'x')));
}

TEST(WorkerChannel, AWriterThatIsNotReadTimesOutInsteadOfHanging) {
  Pair p;
  fcntl(p.worker, F_SETFL, O_NONBLOCK);
  const std::string big(8u << 20, 'x');
  auto st = write_frame(p.worker, FrameKind::json, big, 50);  // nobody reads the other end
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("does not read"), std::string::npos);
}

TEST(WorkerChannel, WritingToAPeerThatIsGoneIsAnErrorNotASignal) {
  Pair p;
  ::close(p.worker);
  p.worker = -1;
  auto st = write_frame(p.host, FrameKind::json, "{}", 100);  // SIGPIPE would end this test
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("Broken pipe"), std::string::npos) << st.error().message;
}

TEST(WorkerChannel, TheLogRingKeepsTheTailAndCountsEverything) {
  LogRing ring(10);
  ring.append("0123456789abc");
  EXPECT_EQ(ring.text(), "...3456789abc");
  EXPECT_EQ(ring.total(), 13u);
  ring.append("XY");
  EXPECT_EQ(ring.text(), "...56789abcXY");
  LogRing small(100);
  small.append("short");
  EXPECT_EQ(small.text(), "short");
}

TEST(WorkerChannel, ControlCharactersAndInvalidUtf8AreEscaped) {
  EXPECT_EQ(escape_control("ok\n\ttab"), "ok\n\ttab");
  EXPECT_EQ(escape_control("\x1b[2J\r\x07"), "\\x1b[2J\\x0d\\x07");
  EXPECT_EQ(escape_control("caf\xc3\xa9 \xe2\x9c\x93"), "caf\xc3\xa9 \xe2\x9c\x93");  // UTF-8 kept
  EXPECT_EQ(escape_control("\xc2\x9b" "31m"), "\\xc2\\x9b31m");                       // C1 CSI escaped
  EXPECT_EQ(escape_control("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(escape_control("\xe2\x9c"), "\\xe2\\x9c");  // truncated sequence
  EXPECT_EQ(escape_control("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a surrogate
  EXPECT_EQ(escape_control("\xc0\xaf"), "\\xc0\\xaf");              // an overlong "/"
  EXPECT_EQ(escape_control("a\nb\tc", false), "a\\nb\\tc");         // one line of a display
}

TEST(SafeText, Utf8ValidityIsStrict) {
  EXPECT_TRUE(asiarch::valid_utf8("caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80"));
  EXPECT_EQ(asiarch::invalid_utf8_at("ok\xc0\xaf"), 2u);          // overlong 2-byte
  EXPECT_EQ(asiarch::invalid_utf8_at("\xe0\x80\xaf"), 0u);        // overlong 3-byte
  EXPECT_EQ(asiarch::invalid_utf8_at("x\xed\xa0\x80"), 1u);       // UTF-16 surrogate
  EXPECT_EQ(asiarch::invalid_utf8_at("\xf4\x90\x80\x80"), 0u);   // past U+10FFFF
  EXPECT_EQ(asiarch::invalid_utf8_at("\xf0\x80\x80\xaf"), 0u);   // overlong 4-byte
  EXPECT_EQ(asiarch::invalid_utf8_at("ab\xe2\x9c"), 2u);           // truncated
}

TEST(SafeText, CredentialsInUrlsAreRedacted) {
  using asiarch::redact_url;
  EXPECT_EQ(redact_url("http://127.0.0.1:8080/v1"), "http://127.0.0.1:8080/v1");
  EXPECT_EQ(redact_url("https://user:s3cret@api.example.com/v1"), "https://***@api.example.com/v1");
  EXPECT_EQ(redact_url("https://api.example.com/v1?api_key=s3cret&model=m"), "https://api.example.com/v1?api_key=***&model=m");
  EXPECT_EQ(redact_url("https://h/p?x=1&Token=abc#frag"), "https://h/p?x=1&Token=***#frag");
  EXPECT_EQ(asiarch::redact_urls("no answer from https://u:pw@h/v1 after 3 tries: (to http://a:b@c)"),
            "no answer from https://***@h/v1 after 3 tries: (to http://***@c)");
  EXPECT_EQ(asiarch::redact_urls("no url here"), "no url here");
}
