CREATE TABLE `boot_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer NOT NULL,
	`mac` text,
	`client_ip` text,
	`kind` text NOT NULL,
	`request` text NOT NULL,
	`result` text NOT NULL,
	`status` integer DEFAULT 200 NOT NULL,
	`detail` text
);
--> statement-breakpoint
CREATE INDEX `boot_events_mac_at_idx` ON `boot_events` (`mac`,`at`);--> statement-breakpoint
CREATE INDEX `boot_events_at_idx` ON `boot_events` (`at`);--> statement-breakpoint
CREATE TABLE `hosts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`mac` text NOT NULL,
	`hostname` text,
	`profile_id` integer,
	`variables` text DEFAULT '{}' NOT NULL,
	`notes` text DEFAULT '' NOT NULL,
	`dhcp_mode` text DEFAULT 'follow' NOT NULL,
	`discovered` integer DEFAULT false NOT NULL,
	`facts` text DEFAULT '{}' NOT NULL,
	`first_seen` integer,
	`last_seen` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`profile_id`) REFERENCES `profiles`(`id`) ON UPDATE no action ON DELETE restrict
);
--> statement-breakpoint
CREATE UNIQUE INDEX `hosts_mac_unique` ON `hosts` (`mac`);--> statement-breakpoint
CREATE INDEX `hosts_profile_idx` ON `hosts` (`profile_id`);--> statement-breakpoint
CREATE TABLE `profiles` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`kind` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`kernel` text,
	`initrds` text DEFAULT '[]' NOT NULL,
	`cmdline` text DEFAULT '' NOT NULL,
	`options` text DEFAULT '{}' NOT NULL,
	`boot_template` text DEFAULT '' NOT NULL,
	`files` text DEFAULT '{}' NOT NULL,
	`variables` text DEFAULT '{}' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `profiles_name_unique` ON `profiles` (`name`);--> statement-breakpoint
CREATE TABLE `settings` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `templates` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`version` integer NOT NULL,
	`body` text NOT NULL,
	`comment` text DEFAULT '' NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `templates_name_version_unique` ON `templates` (`name`,`version`);