/*
 * feed: a frame writer for a v4l2loopback node, run inside the test VM (built `gcc -static -O2`
 * on the host by board/vm/camera-test.sh, so the busybox guest needs no libraries for it).
 *
 *   feed /dev/videoN FILE WIDTH HEIGHT FOURCC FPS [--stall-after N]
 *
 * Sets the node's OUTPUT format (VIDIOC_S_FMT, V4L2_BUF_TYPE_VIDEO_OUTPUT) and write()s the same
 * frame FPS times a second, forever. With --stall-after N it stops writing after N frames but
 * keeps the file descriptor open, which is what a wedged USB camera looks like to the reader: the
 * node stays, frames stop. SIGUSR1 stalls it the same way at once (the test scripts use that: the
 * device under test starts slowly in the emulated VM, so a frame count cannot say when it is
 * already previewing).
 *
 * FOURCC is YUYV or MJPG. FILE is
 *   - for YUYV: raw YUYV (WIDTH*HEIGHT*2 bytes), or a binary PPM (P6, maxval 255, WIDTH x HEIGHT)
 *     converted here to YUYV with BT.601 limited-range coefficients;
 *   - for MJPG: one JPEG (sizeimage = the file's size).
 *
 * Logs to stderr with CLOCK_BOOTTIME stamps (the clock /proc/uptime shows), so the guest scripts
 * can line a stall up with the device's log.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/videodev2.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stall_now;

static void on_usr1(int sig)
{
	(void)sig;
	stall_now = 1;
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_BOOTTIME, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "feed: [%.2f] %s: %s\n", now_s(), what, strerror(errno));
	exit(1);
}

static unsigned char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		die(path);
	struct stat st;
	if (fstat(fileno(f), &st) < 0)
		die(path);
	unsigned char *buf = malloc(st.st_size ? st.st_size : 1);
	if (!buf || fread(buf, 1, st.st_size, f) != (size_t)st.st_size)
		die(path);
	fclose(f);
	*len = st.st_size;
	return buf;
}

/* Skips whitespace and '#' comments in a PPM header. */
static const unsigned char *ppm_skip(const unsigned char *p, const unsigned char *end)
{
	while (p < end) {
		if (*p == '#') {
			while (p < end && *p != '\n')
				p++;
		} else if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
			p++;
		} else {
			break;
		}
	}
	return p;
}

static const unsigned char *ppm_int(const unsigned char *p, const unsigned char *end, long *v)
{
	p = ppm_skip(p, end);
	*v = 0;
	if (p >= end || *p < '0' || *p > '9') {
		fprintf(stderr, "feed: malformed PPM header\n");
		exit(1);
	}
	while (p < end && *p >= '0' && *p <= '9')
		*v = *v * 10 + (*p++ - '0');
	return p;
}

static unsigned char clamp8(double v)
{
	return v < 0 ? 0 : v > 255 ? 255 : (unsigned char)(v + 0.5);
}

/* P6 (8-bit) -> YUYV, BT.601 limited range; chroma is the mean of each horizontal pixel pair. */
static unsigned char *ppm_to_yuyv(const unsigned char *ppm, size_t len, long w, long h, size_t *out_len)
{
	const unsigned char *end = ppm + len, *p = ppm + 2;
	long pw, ph, maxval;
	p = ppm_int(p, end, &pw);
	p = ppm_int(p, end, &ph);
	p = ppm_int(p, end, &maxval);
	p++; /* the single whitespace byte before the raster */
	if (pw != w || ph != h || maxval != 255 || (size_t)(end - p) < (size_t)(w * h * 3)) {
		fprintf(stderr, "feed: PPM is %ldx%ld maxval %ld, want %ldx%ld maxval 255\n", pw, ph,
			maxval, w, h);
		exit(1);
	}
	unsigned char *out = malloc(w * h * 2);
	if (!out)
		die("malloc");
	for (long i = 0; i < w * h; i += 2) {
		const unsigned char *a = p + i * 3, *b = a + 3;
		double ya = 16 + (65.481 * a[0] + 128.553 * a[1] + 24.966 * a[2]) / 255;
		double yb = 16 + (65.481 * b[0] + 128.553 * b[1] + 24.966 * b[2]) / 255;
		double r = (a[0] + b[0]) / 2.0, g = (a[1] + b[1]) / 2.0, bl = (a[2] + b[2]) / 2.0;
		double cb = 128 + (-37.797 * r - 74.203 * g + 112.0 * bl) / 255;
		double cr = 128 + (112.0 * r - 93.786 * g - 18.214 * bl) / 255;
		out[i * 2 + 0] = clamp8(ya);
		out[i * 2 + 1] = clamp8(cb);
		out[i * 2 + 2] = clamp8(yb);
		out[i * 2 + 3] = clamp8(cr);
	}
	*out_len = w * h * 2;
	return out;
}

int main(int argc, char **argv)
{
	if (argc != 7 && !(argc == 9 && strcmp(argv[7], "--stall-after") == 0)) {
		fprintf(stderr,
			"usage: feed /dev/videoN FILE WIDTH HEIGHT YUYV|MJPG FPS [--stall-after N]\n");
		return 2;
	}
	const char *node = argv[1], *path = argv[2], *fourcc = argv[5];
	long w = atol(argv[3]), h = atol(argv[4]), fps = atol(argv[6]);
	long stall_after = argc == 9 ? atol(argv[8]) : -1;
	if (w <= 0 || h <= 0 || (w & 1) || fps <= 0 || strlen(fourcc) != 4) {
		fprintf(stderr, "feed: bad size, rate or fourcc\n");
		return 2;
	}
	uint32_t pixfmt = v4l2_fourcc(fourcc[0], fourcc[1], fourcc[2], fourcc[3]);

	size_t len;
	unsigned char *frame = read_file(path, &len);
	if (pixfmt == V4L2_PIX_FMT_YUYV) {
		if (len >= 2 && frame[0] == 'P' && frame[1] == '6') {
			size_t yl;
			unsigned char *y = ppm_to_yuyv(frame, len, w, h, &yl);
			free(frame);
			frame = y;
			len = yl;
		} else if (len != (size_t)(w * h * 2)) {
			fprintf(stderr, "feed: %s is %zu bytes, YUYV %ldx%ld needs %ld\n", path, len, w,
				h, w * h * 2);
			return 1;
		}
	} else if (pixfmt == V4L2_PIX_FMT_MJPEG) {
		if (len < 4 || frame[0] != 0xff || frame[1] != 0xd8) {
			fprintf(stderr, "feed: %s is not a JPEG\n", path);
			return 1;
		}
	} else {
		fprintf(stderr, "feed: fourcc %s not supported (YUYV or MJPG)\n", fourcc);
		return 2;
	}

	int fd = open(node, O_RDWR);
	if (fd < 0)
		die(node);

	struct v4l2_format fmt;
	memset(&fmt, 0, sizeof fmt);
	fmt.type = V4L2_BUF_TYPE_VIDEO_OUTPUT;
	fmt.fmt.pix.width = w;
	fmt.fmt.pix.height = h;
	fmt.fmt.pix.pixelformat = pixfmt;
	fmt.fmt.pix.field = V4L2_FIELD_NONE;
	fmt.fmt.pix.bytesperline = pixfmt == V4L2_PIX_FMT_YUYV ? w * 2 : 0;
	fmt.fmt.pix.sizeimage = len;
	fmt.fmt.pix.colorspace = pixfmt == V4L2_PIX_FMT_YUYV ? V4L2_COLORSPACE_SMPTE170M
							     : V4L2_COLORSPACE_JPEG;
	if (ioctl(fd, VIDIOC_S_FMT, &fmt) < 0)
		die("VIDIOC_S_FMT");
	if (fmt.fmt.pix.width != (uint32_t)w || fmt.fmt.pix.height != (uint32_t)h ||
	    fmt.fmt.pix.pixelformat != pixfmt) {
		fprintf(stderr, "feed: driver changed the format to %ux%u %.4s\n", fmt.fmt.pix.width,
			fmt.fmt.pix.height, (char *)&fmt.fmt.pix.pixelformat);
		return 1;
	}

	/* Announce the rate, so a reader's G_PARM/ENUM_FRAMEINTERVALS sees FPS. Not fatal. */
	struct v4l2_streamparm parm;
	memset(&parm, 0, sizeof parm);
	parm.type = V4L2_BUF_TYPE_VIDEO_OUTPUT;
	parm.parm.output.timeperframe.numerator = 1;
	parm.parm.output.timeperframe.denominator = fps;
	if (ioctl(fd, VIDIOC_S_PARM, &parm) < 0)
		fprintf(stderr, "feed: VIDIOC_S_PARM: %s (ignored)\n", strerror(errno));

	fprintf(stderr, "feed: [%.2f] %s %ldx%ld %s %ld fps, %zu-byte frame%s\n", now_s(), node, w, h,
		fourcc, fps, len, stall_after >= 0 ? ", will stall" : "");

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1; /* no SA_RESTART: the sleep below returns at once */
	sigaction(SIGUSR1, &sa, NULL);

	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	long period_ns = 1000000000L / fps;
	long n = 0;
	for (;; n++) {
		if ((stall_after >= 0 && n == stall_after) || stall_now) {
			fprintf(stderr, "feed: [%.2f] stalled after %ld frames (fd kept open)\n",
				now_s(), n);
			for (;;)
				pause();
		}
		ssize_t r = write(fd, frame, len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("write");
		}
		/* A reader that starts streaming before the first write() dequeues an unwritten
		 * buffer (bytesused = sizeimage) from v4l2loopback 0.12: readers wait for this line. */
		if (n == 0)
			fprintf(stderr, "feed: [%.2f] first frame written\n", now_s());
		next.tv_nsec += period_ns;
		while (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
	}
}
