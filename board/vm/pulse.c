/*
 * pulse: press a simulated button for an exact time, run inside the test VM.
 *
 *   pulse /sys/devices/platform/gpio-sim.N/gpiochipM/sim_gpioK/pull MS [pull-down|pull-up]
 *
 * Writes the "pressed" pull (default pull-down: the buttons are active-low), sleeps MS
 * milliseconds and writes the opposite pull back. The shell cannot time a 5 ms glitch (each
 * command is a fork under an emulated CPU), this can. Prints the CLOCK_BOOTTIME stamps (the clock
 * of /proc/uptime) of both edges, e.g. "pulse: 41.203 41.208".
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_BOOTTIME, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void put(int fd, const char *v)
{
	if (pwrite(fd, v, strlen(v), 0) < 0) {
		perror("pulse: write");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: pulse SIM_GPIO_PULL_FILE MS [pull-down|pull-up]\n");
		return 2;
	}
	const char *press = argc == 4 ? argv[3] : "pull-down";
	const char *release = strcmp(press, "pull-down") == 0 ? "pull-up" : "pull-down";
	long ms = atol(argv[2]);
	int fd = open(argv[1], O_WRONLY);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	struct timespec d = { ms / 1000, (ms % 1000) * 1000000L };
	double t0 = now_s();
	put(fd, press);
	double t1 = now_s();
	nanosleep(&d, NULL);
	double t2 = now_s();
	put(fd, release);
	double t3 = now_s();
	/* Edge times: the middle of each write, so the printed width is what the line saw. */
	printf("pulse: %.4f %.4f (%.1f ms)\n", (t0 + t1) / 2, (t2 + t3) / 2,
	       ((t2 + t3) / 2 - (t0 + t1) / 2) * 1000);
	return 0;
}
