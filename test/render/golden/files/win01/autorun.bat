@echo off
rem chainboot: automated Windows install for 52:54:00:00:00:04
rem Partitions the disk, applies the image, makes it bootable and leaves an
rem unattend.xml for the first boot. The first step that fails stops it.
setlocal
if not defined CHAINBOOT_WPEINIT wpeinit
set CB=X:\chainboot
if not exist %CB% mkdir %CB%
echo chainboot: partitioning
rem diskpart.txt comes from chainboot: the copy wimboot injected, else fetched.
if exist %SystemRoot%\System32\diskpart.txt (
  copy /y %SystemRoot%\System32\diskpart.txt %CB%\diskpart.txt >nul || goto failed
) else (
  curl.exe -fsS -o %CB%\diskpart.txt http://10.0.0.5:8080/hosts/52-54-00-00-00-04/diskpart.txt || goto failed
)
diskpart /s %CB%\diskpart.txt || goto failed

echo chainboot: applying the image
net use Z: \\fileserver\images /user:LAB\deploy Deploy-2024 || goto failed
dism /Apply-Image /ImageFile:Z:\win11\sources\install.wim /Index:6 /ApplyDir:W:\ || goto failed

echo chainboot: making the disk bootable
rem bcdboot from the applied image, for the firmware WinPE itself booted with.
W:\Windows\System32\bcdboot.exe W:\Windows /s S: || goto failed

echo chainboot: fetching unattend.xml for the first boot
if not exist W:\Windows\Panther mkdir W:\Windows\Panther
curl.exe -fsS -o W:\Windows\Panther\unattend.xml http://10.0.0.5:8080/hosts/52-54-00-00-00-04/unattend.xml || goto failed

echo chainboot: done, restarting
wpeutil reboot
exit /b 0

:failed
echo chainboot: the install stopped at the step above
exit /b 1
