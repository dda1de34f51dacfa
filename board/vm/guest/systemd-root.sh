# Sourced by init (busybox, PID 1) for the "systemd" boot: builds the root systemd boots into
# and leaves it at /newroot; init then hands PID 1 to systemd with switch_root.
#
# The root is this host's own Debian 12 userland (the 9p share "hostroot", read-only) under a
# tmpfs overlay, so the guest runs the systemd, adduser and udev a Debian board runs, without
# building a root file system. Into it goes what the .deb installs (unit, postinst, config,
# models, binary), unmodified except for the config lines a VM needs (see config.toml in the
# share: PNG panel, keyboard buttons, the fixture gallery). Everything the kernel needs is loaded
# here, from the initramfs: the host's /lib/modules is for another kernel.
modprobe overlay || boot_fail "modprobe overlay failed"
# One vivid camera, capture node only: /dev/video0.
modprobe vivid n_devs=1 node_types=0x1 || boot_fail "modprobe vivid failed"
# USB sticks (plugged later by the host): the xHCI controller, usb-storage, disks, FAT.
for m in xhci_pci usb_storage sd_mod vfat nls_cp437 nls_ascii nls_utf8 nls_iso8859_1; do
  modprobe $m || boot_fail "modprobe $m failed"
done
mkdir -p /lower /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,ro hostroot /lower \
  || boot_fail "9p mount of hostroot failed"
mount -t tmpfs -o mode=0755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot \
  || boot_fail "overlay mount failed"
n=/newroot
# The guest's own empty /tmp and /var/tmp: systemd-tmpfiles would otherwise empty this host's
# (thousands of files on a busy build machine, each a whiteout over 9p: minutes at boot).
mount -t tmpfs -o mode=1777 tmpfs $n/tmp
mount -t tmpfs -o mode=1777 tmpfs $n/var/tmp
mkdir -p $n/usr/share/gestaltcam/models $n/etc/gestaltcam $n/lib/systemd/system
cp /mnt/board/gestaltcam.service $n/lib/systemd/system/gestaltcam.service
cp /mnt/board/config.toml $n/etc/gestaltcam/config.toml
cp /mnt/fixtures/fixture.gmg $n/usr/share/gestaltcam/gallery.gmg
mkdir -p $n/lib/udev/rules.d
cp /mnt/board/99-gestaltcam.rules $n/lib/udev/rules.d/
# The USB-stick update: its unit and helper, and the programme key the device trusts.
cp /mnt/board/gestaltcam-usb@.service $n/lib/systemd/system/
mkdir -p $n/usr/lib/gestaltcam $n/etc/gestaltcam/trusted-keys
cp /mnt/board/gestaltcam-usb $n/usr/lib/gestaltcam/gestaltcam-usb
chmod 755 $n/usr/lib/gestaltcam/gestaltcam-usb
cp /mnt/fixtures/programme.pub $n/etc/gestaltcam/trusted-keys/programme.pub
# The HPO release files where the package installs them (the checkout's data/hpo, in this
# host's root).
mkdir -p $n/usr/share/gestaltcam/hpo
mount --bind "$n$(cat /mnt/board/hpo-path)" $n/usr/share/gestaltcam/hpo || boot_fail "bind mount of the HPO files failed"
# udev, when this host has none (the camera node's group and mode come from its rules).
if [ -d /mnt/udev ]; then
  cp -a /mnt/udev/. $n/ || boot_fail "copying udev into the new root failed"
fi
# The boot's own target: basic system, then the plan (which installs the package's way: postinst).
cat > $n/etc/systemd/system/gestaltcam-vm.target <<'UNIT'
[Unit]
Description=gestaltcam VM test
Requires=basic.target gestaltcam-vm-plan.service
After=basic.target
AllowIsolate=yes
UNIT
cat > $n/etc/systemd/system/gestaltcam-vm-plan.service <<'UNIT'
[Unit]
Description=gestaltcam VM test plan (board/vm/guest/plan-systemd.sh)
After=basic.target
[Service]
Type=oneshot
ExecStart=/bin/bash /mnt/guest/plan-systemd.sh
StandardOutput=file:/mnt/work/plan-systemd.trace
StandardError=inherit
UNIT
# This boot's default target (in this root only).
ln -sf gestaltcam-vm.target $n/etc/systemd/system/default.target
# Nothing of this host's own services: no network, no database, no timers in the guest.
for u in systemd-timesyncd.service systemd-pstore.service postgresql.service \
    e2scrub_reap.service apt-daily.timer apt-daily-upgrade.timer man-db.timer \
    dpkg-db-backup.timer e2scrub_all.timer fstrim.timer getty@tty1.service console-getty.service; do
  ln -sf /dev/null $n/etc/systemd/system/$u
done
# The shares move into the new root (a 9p share cannot be mounted twice): the share keeps its
# place (/mnt) for the plan, the models go where the .deb puts them, and so does the binary.
mount --move /mnt/models $n/usr/share/gestaltcam/models || boot_fail "moving the models share failed"
mount --move /mnt $n/mnt || boot_fail "moving the share failed"
: > $n/usr/bin/gestaltcam
mount --bind $n/mnt/bin/gestaltcam $n/usr/bin/gestaltcam || boot_fail "bind mount of the binary failed"
echo "vm-guest: systemd root ready at $(cut -d' ' -f1 /proc/uptime) s"
# The kernel file systems move along; systemd mounts the rest itself.
for d in dev proc sys run; do
  mount --move /$d $n/$d || boot_fail "moving /$d failed"
done
